using AptLab.Apt;
using AptLab.Data;
using AptLab.Diffusion;
using AptLab.Torch.IO;
using AptLab.Torch.optim;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// The consistency-distillation stage of every APT study (docs/consistency-distillation.md): the <c>distill</c>
/// section's settings (steps, batch, lr, weight_decay, n, shift, guidance) on any <see cref="FlowModel"/> and any
/// batch source; AdamW on the student, the teacher frozen; one batch per step, the loss logged as cd/loss. The
/// product is checkpoints/cd.safetensors; a resumed run that has it loads it instead. A training replicate
/// (<see cref="Replicate"/>) trains with its own seed and writes its own product and tags (cd_seed&lt;s&gt;, cd/seed&lt;s&gt;/loss).
/// <para>With a <see cref="TeacherTargetCache"/> (<c>distill.target_cache</c>) the noise of a training sample is one of
/// <c>noise_seeds</c> seeded draws (seeded by (seed, set, sample, noise seed)), so every teacher step is a function of a
/// (sample, noise seed, step) triple and is stored in / read from the cache: a second run with the cache computes the
/// same student without evaluating the teacher for any cached triple. The batches must then name their samples.</para>
/// </summary>
public static class CdStage
{
    public const string Stage = "cd";

    /// <summary>A training batch: clean latents [B, C, F, H, W], their conditioning and, for the target cache, the
    /// sample set ("image", "video") and indices.</summary>
    public sealed record Batch(Tensor X0, Conditioning Condition, string Set = "", long[]? Indices = null)
    {
        /// <summary>A real batch of the APT data sources (no cache keys).</summary>
        public static implicit operator Batch(RealBatch b) => new(b.Latents, b.Condition);
    }

    /// <summary>The batch of step <c>step</c> (1-based) drawn with the stage's generator.</summary>
    public delegate Batch BatchSource(int step, int size, Generator rng);

    /// <summary>This run's CD student on every rank: checkpoints/cd.safetensors when present, else <paramref name="train"/>
    /// runs (timed; it calls <see cref="Train"/>, which writes that file); either way the student is read back from the
    /// file into a copy of <paramref name="template"/> (its architecture, dtype and device), so every rank and a resumed
    /// run continue from the same weights.</summary>
    /// <param name="replicate">the training replicate (its product: cd, cd_seed&lt;s&gt;); null = the run's seed</param>
    public static TModel Student<TModel>(RunContext ctx, TModel template, Action train, Replicate? replicate = null) where TModel : FlowModel
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        var name = replicate.Checkpoint(Stage);
        if (StudyCheckpoints.Has(ctx, name)) ctx.Out.WriteLine($"[{replicate.Label("distill")}] CD student from {StudyCheckpoints.PathOf(ctx, name)}");
        else ctx.Timed(replicate.Label("distill"), train);
        return StudyCheckpoints.LoadModel(ctx, template, name);
    }

    /// <summary>distill.steps AdamW updates of <paramref name="student"/> on the CD loss against
    /// <paramref name="teacher"/> (frozen here), under the run's precision and parallel mode; writes the product
    /// checkpoints/cd.safetensors (the masters, in the master dtype; replicate k: cd_seed&lt;s&gt;) and returns the last loss.
    /// <para>Data-parallel over the batch: distill.batch is the GLOBAL batch; every rank draws it (data, n, eps) from
    /// the same generator and computes the loss of its rows (<see cref="BatchShard"/>), the gradients are averaged
    /// (ddp: all-reduce; fsdp: reduce-scatter), so N ranks reproduce one process. The teacher computes in the
    /// policy's compute dtype (a cast copy when needed; under fsdp a sharded frozen copy).</para></summary>
    /// <param name="negative">the teacher's CFG negative for a batch's conditioning</param>
    /// <param name="cache">the teacher-target cache, or null to call the teacher for every target</param>
    /// <param name="reportEvery">progress line every this many steps</param>
    /// <param name="preview">logs a sample sheet of the student every distill.sample_every steps; every rank calls it
    /// (the student's forward may gather shards), rank 0 writes (null: none)</param>
    /// <param name="replicate">the training replicate (seed, product name, metric tags); null = the run's seed</param>
    public static double Train(RunContext ctx, FlowModel student, FlowModel teacher, BatchSource batches, Func<Conditioning, Conditioning> negative,
        TeacherTargetCache? cache = null, int reportEvery = 10, Action<long, FlowModel>? preview = null, Replicate? replicate = null)
    {
        var cfg = ctx.Config.Distill;
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        string tag = replicate.Tag(Stage);
        if (cfg.Batch % ctx.WorldSize != 0)
            throw new ArgumentException($"distill.batch {cfg.Batch} does not split over {ctx.WorldSize} ranks (it is the global batch; each rank computes batch / ranks samples)");
        teacher.Module.requires_grad_(false);
        student.Module.requires_grad_(true);
        if (ctx.Parallel == ParallelMode.Fsdp) student.GradientCheckpointing = true;        // FSDP regathers a block for its backward
        student.Module.train();
        using var wrapped = ParallelModules.Wrap(student.Module, ctx.Precision, ctx.Parallel, ctx.TrainingGroup, device: ctx.Device);
        var (frozen, owned) = FrozenTeacher(ctx, teacher);
        using var _owned = owned;
        var sm = new ParallelFlowModel(student, wrapped);
        using var opt = new AdamW(wrapped.parameters(), lr: cfg.Lr, weight_decay: cfg.WeightDecay);
        var progress = new ProgressReporter(replicate.Label("distill"), cfg.Steps, ctx.Out, every: reportEvery);
        using var rng = new Generator(replicate.Seed + Seeds.Distill);
        var guard = ctx.NonFinite(replicate.Tag("distill"));
        double last = double.NaN;
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            var b = batches(step, cfg.Batch, rng);                                          // x0: [B, C, F, H, W], the global batch
            var loss = cache is null
                ? ConsistencyDistillation.Loss(sm, frozen, b.X0, b.Condition, negative(b.Condition), cfg.Settings, rng, shard: ctx.Shard).loss
                : CachedLoss(ctx, sm, frozen, cache, b, negative, rng);
            wrapped.backward(loss);
            wrapped.sync_gradients();
            double l = ctx.MeanOverRanks(loss.item<double>());                               // the global batch's loss
            // Every rank follows rank 0's decision (a shard's gradient norm is its own).
            bool allowed = ctx.AgreeWithMain(guard.Allows(step, ("loss", l), ("grad_norm", NonFiniteGuard.GradNorm(wrapped.parameters()))));
            if (allowed)
            {
                wrapped.step(opt);
                ctx.Log.Scalar(step, tag + "/loss", last = l);
            }
            else ctx.Log.Scalar(step, tag + "/skipped_steps", guard.Skipped);
            wrapped.zero_grad();
            progress.Report(step, new Dictionary<string, double> { ["loss"] = l }, (int)b.X0.size(0));
            if (preview is not null && SamplePreview.Due(cfg.SampleEvery, step)) preview(step, sm);
        }
        if (cache is not null)
        {
            ctx.Out.WriteLine($"[{replicate.Label("distill")}] teacher targets: {cache.Hits} from the cache, {cache.Misses} computed");
            ctx.Log.Scalars(cfg.Steps, new Dictionary<string, double> { [tag + "/cache_hits"] = cache.Hits, [tag + "/cache_misses"] = cache.Misses });
        }
        using (var scope = torch.NewScope())
        {
            var weights = wrapped.state_dict();                                             // a collective under fsdp; rank 0 holds it
            var name = replicate.Checkpoint(Stage);
            ctx.OnMain(() => Safetensors.Save(StudyCheckpoints.PathOf(ctx, name), weights, new Dictionary<string, string>
            {
                ["stage"] = name, ["precision"] = ctx.Config.Precision, ["parallel"] = ctx.Config.Parallel,
            }));
        }
        student.Module.eval();
        return last;
    }

    /// <summary>The teacher as CD runs it: in the policy's compute dtype on the run's device; under fsdp a frozen,
    /// sharded copy (only one block whole at a time). Returns the model to call and what to dispose afterwards.</summary>
    private static (FlowModel teacher, IDisposable owned) FrozenTeacher(RunContext ctx, FlowModel teacher)
    {
        var dtype = ctx.Precision.ComputeDtype(teacher.Module.parameters().First().dtype);
        var owned = new List<IDisposable>();
        if (ctx.Parallel == ParallelMode.Ddp)
        {
            var w = teacher.Module.parameters().First();
            if (w.dtype == dtype && w.device == ctx.Device) return (teacher, new Owned(owned));
            var copy = teacher.Copy();
            copy.Module.to(ctx.Device, dtype);
            copy.Module.requires_grad_(false);
            copy.Module.eval();
            owned.Add(copy);
            return (copy, new Owned(owned));
        }
        var sharded = teacher.Copy();
        sharded.Module.requires_grad_(false);
        sharded.Module.eval();
        owned.Add(sharded);
        var wrapper = ParallelModules.Wrap(sharded.Module, ctx.Precision, ParallelMode.Fsdp, ctx.TrainingGroup, device: ctx.Device);
        owned.Insert(0, wrapper);
        return (new ParallelFlowModel(sharded, wrapper), new Owned(owned));
    }

    private sealed class Owned(List<IDisposable> items) : IDisposable
    {
        public void Dispose() { foreach (var d in items) d.Dispose(); }
    }

    // ---- the demo study's CD (its data, negative prompt and target cache) ----

    /// <summary>The study's CD student (checkpoints/cd.safetensors, replicate k: cd_seed&lt;s&gt;; <see cref="Student"/>):
    /// a copy of ctx.Teacher distilled against <paramref name="teacher"/> on the study's latents (images and clips
    /// alternate), the negative prompt as CFG negative.</summary>
    public static WanFlowModel Distill(StudyContext ctx, FlowModel teacher, TeacherTargetCache? cache, Replicate? replicate = null)
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        return Student(ctx, ctx.Teacher, () =>
        {
            using var student = ctx.Teacher.Copy();
            Train(ctx, student, teacher, (step, size, rng) =>
            {
                bool video = ctx.VideoLatents is not null && step % 2 == 0;
                var (x0, captions, indices) = Batches.SampleIndexed(ctx, video, size, rng);
                return new Batch(x0, ctx.Condition(captions), video ? "video" : "image", indices);
            }, c => ctx.Negative((int)c.Context.size(0)), cache, reportEvery: 50,
                preview: (step, model) => SamplePreview.Log(ctx, replicate.Tag(Stage), step, model, video: false), replicate: replicate);
        }, replicate);
    }

    /// <summary>The configured target cache (null without one), fingerprinted by teacher weights, data and settings.</summary>
    public static TeacherTargetCache? OpenCache(StudyContext ctx)
    {
        var cfg = ctx.Config.Distill;
        if (string.IsNullOrWhiteSpace(cfg.TargetCache)) return null;
        var tensors = ctx.Teacher.Module.state_dict().Select(kv => ("teacher." + kv.Key, kv.Value)).ToList();
        if (ctx.ImageLatents is not null) tensors.Add(("image_latents", ctx.ImageLatents));
        if (ctx.VideoLatents is not null) tensors.Add(("video_latents", ctx.VideoLatents));
        string[] settings = [$"n={cfg.N}", $"shift={cfg.Shift:R}", $"guidance={cfg.Guidance:R}",
            $"negative={ctx.Config.Sampling.NegativePrompt}", $"seed={ctx.Config.Seed}", $"text=" + string.Join("|", ctx.ImageCaptions.Take(8)),
            .. ctx.Precision == Precision.Fp32 ? Array.Empty<string>() : [$"precision={ctx.Config.Precision}"]];   // bf16 targets differ
        var fp = TeacherTargetCache.FingerprintOf(tensors, settings);
        var cache = TeacherTargetCache.Open(cfg.TargetCache, fp, readOnly: !ctx.IsMain);
        ctx.Out.WriteLine($"[distill] teacher-target cache {cache.Root}: {cache.Count} targets");
        return cache;
    }

    /// <summary>The CD loss with keyed noise and cached teacher steps: n ~ U{0..N-1} and a noise seed k per sample
    /// from <paramref name="rng"/> (drawn for the global batch; this rank keeps its rows); eps from a generator seeded by
    /// (seed, set, sample, k); x^_n from the cache, else from the teacher (only for the missing samples, in one batch)
    /// and stored (by rank 0: the other ranks' caches are read-only).</summary>
    private static Tensor CachedLoss(RunContext ctx, FlowModel student, FlowModel teacher, TeacherTargetCache cache, Batch batch,
        Func<Conditioning, Conditioning> negative, Generator rng)
    {
        var cfg = ctx.Config.Distill;
        var (x0, cond) = (batch.X0, batch.Condition);
        var indices = batch.Indices ?? throw new ArgumentException("CD with a teacher-target cache needs batches that name their samples");
        using var scope = torch.NewScope();
        var shard = ctx.Shard;
        bool video = batch.Set == "video";
        var tk = ConsistencyDistillation.Discretisation(cfg.N, cfg.Shift).to(x0.device);           // [N + 1]
        var n = shard.Of(torch.randint(0, cfg.N, [indices.Length], generator: rng, device: x0.device));       // [B] this rank's rows
        var seeds = shard.Of(torch.randint(0, cfg.NoiseSeeds, [indices.Length], generator: rng)).data<long>().ToArray();
        int b = seeds.Length;
        indices = indices.Skip(shard.Rank * b).Take(b).ToArray();
        (x0, cond) = (shard.Of(x0), shard.Of(cond));
        var steps = n.to(Device.CPU).data<long>().ToArray();
        var tn = tk.index_select(0, n);
        var tn1 = tk.index_select(0, n + 1L);
        var eps = torch.stack(Enumerable.Range(0, b).Select(i =>
        {
            using var g = new Generator(NoiseSeed(ctx.Config.Seed, video, indices[i], seeds[i]));
            return torch.randn(x0.shape[1..], x0.dtype, x0.device, g);
        }).ToArray());                                                                                 // [B, C, F, H, W]
        var xn1 = FlowMatch.AddNoise(x0, eps, tn1);                                                  // x_{n+1}

        var keys = Enumerable.Range(0, b).Select(i => TeacherTargetCache.Key(batch.Set, indices[i], seeds[i], steps[i])).ToArray();
        var targets = keys.Select(cache.TryGet).ToArray();
        var missing = Enumerable.Range(0, b).Where(i => targets[i] is null).ToArray();
        if (missing.Length > 0)
        {
            var ids = torch.tensor(missing.Select(i => (long)i).ToArray(), missing.Length).to(x0.device);
            var sub = new Conditioning(cond.Context.index_select(0, ids));
            var computed = ConsistencyDistillation.TeacherStep(teacher, xn1.index_select(0, ids), tn1.index_select(0, ids),
                tn.index_select(0, ids), sub, negative(sub), cfg.Guidance);                           // [M, C, F, H, W]
            for (int j = 0; j < missing.Length; j++)
            {
                targets[missing[j]] = computed.select(0, j);
                cache.Put(keys[missing[j]], targets[missing[j]]!);
            }
        }
        var xhat = torch.stack(targets.Select(t => t!.to(x0.device)).ToArray());
        return scope.Keep(ConsistencyDistillation.LossFromTarget(student, xn1, tn1, xhat, tn, cond));
    }

    /// <summary>The seed of the noise draw k of a training sample (splitmix64 of the tuple).</summary>
    public static ulong NoiseSeed(ulong seed, bool video, long sample, long k)
    {
        ulong x = seed ^ (video ? 0xA5A5_0000_0000_0000UL : 0UL) ^ ((ulong)sample * 0x9E3779B97F4A7C15UL) ^ ((ulong)k << 48);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
