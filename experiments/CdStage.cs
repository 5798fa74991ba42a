using AptLab.Apt;
using AptLab.Data;
using AptLab.Diffusion;
using AptLab.Torch.optim;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// The consistency-distillation stage of every APT study (docs/consistency-distillation.md): the <c>distill</c>
/// section's settings (steps, batch, lr, weight_decay, n, shift, guidance) on any <see cref="FlowModel"/> and any
/// batch source; AdamW on the student, the teacher frozen; one batch per step, the loss logged as cd/loss. The
/// product is checkpoints/cd.safetensors; a resumed run that has it loads it instead.
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

    /// <summary>This run's CD student: loaded from checkpoints/cd.safetensors when present, else made by
    /// <paramref name="distill"/> (which calls <see cref="Train"/>), timed and saved there.</summary>
    public static TModel Student<TModel>(RunContext ctx, TModel teacher, Func<TModel> distill) where TModel : FlowModel
    {
        if (StudyCheckpoints.Has(ctx, Stage))
        {
            ctx.Out.WriteLine($"[distill] CD student from {StudyCheckpoints.PathOf(ctx, Stage)}");
            return StudyCheckpoints.LoadModel(ctx, teacher, Stage);
        }
        var student = ctx.Timed("distill", distill);
        StudyCheckpoints.SaveModel(ctx, Stage, student);
        return student;
    }

    /// <summary>distill.steps AdamW updates of <paramref name="student"/> on the CD loss against
    /// <paramref name="teacher"/> (frozen here); returns the last loss. The student is left in eval mode. Every rank of a
    /// data-parallel run computes the same student (same seeds and batches); rank 0 writes it.</summary>
    /// <param name="negative">the teacher's CFG negative for a batch's conditioning</param>
    /// <param name="cache">the teacher-target cache, or null to call the teacher for every target</param>
    /// <param name="reportEvery">progress line every this many steps</param>
    /// <param name="replicate">the training replicate (seed, metric tags); null = the run's seed</param>
    public static double Train(RunContext ctx, FlowModel student, FlowModel teacher, BatchSource batches, Func<Conditioning, Conditioning> negative,
        TeacherTargetCache? cache = null, int reportEvery = 10, Replicate? replicate = null)
    {
        var cfg = ctx.Config.Distill;
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        string tag = replicate.Tag("cd");
        teacher.Module.requires_grad_(false);
        student.Module.train();
        using var opt = new AdamW(student.Module.parameters(), lr: cfg.Lr, weight_decay: cfg.WeightDecay);
        var progress = new ProgressReporter(replicate.Label("distill"), cfg.Steps, ctx.Out, every: reportEvery);
        using var rng = new Generator(replicate.Seed + Seeds.Distill);
        double last = double.NaN;
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            var b = batches(step, cfg.Batch, rng);                                          // x0: [B, C, F, H, W]
            var loss = cache is null
                ? ConsistencyDistillation.Loss(student, teacher, b.X0, b.Condition, negative(b.Condition), cfg.Settings, rng).loss
                : CachedLoss(ctx, student, teacher, cache, b, negative, rng);
            loss.backward();
            opt.step();
            opt.zero_grad();
            last = loss.item<double>();
            ctx.Log.Scalar(step, tag + "/loss", last);
            progress.Report(step, new Dictionary<string, double> { ["loss"] = last }, (int)b.X0.size(0));
        }
        if (cache is not null)
        {
            ctx.Out.WriteLine($"[distill] teacher targets: {cache.Hits} from the cache, {cache.Misses} computed");
            ctx.Log.Scalars(cfg.Steps, new Dictionary<string, double> { [tag + "/cache_hits"] = cache.Hits, [tag + "/cache_misses"] = cache.Misses });
        }
        student.Module.eval();
        return last;
    }

    // ---- the demo study's CD (its data, negative prompt and target cache) ----

    /// <summary>The study's CD student: a copy of ctx.Teacher distilled against <paramref name="teacher"/> on the
    /// study's latents (images and clips alternate), the negative prompt as CFG negative.</summary>
    public static WanFlowModel Distill(StudyContext ctx, FlowModel teacher, TeacherTargetCache? cache, Replicate? replicate = null)
    {
        var student = (WanFlowModel)ctx.Teacher.Copy();
        Train(ctx, student, teacher, (step, size, rng) =>
        {
            bool video = ctx.VideoLatents is not null && step % 2 == 0;
            var (x0, captions, indices) = Batches.SampleIndexed(ctx, video, size, rng);
            return new Batch(x0, ctx.Condition(captions), video ? "video" : "image", indices);
        }, c => ctx.Negative((int)c.Context.size(0)), cache, reportEvery: 50, replicate);
        return student;
    }

    /// <summary>The configured target cache (null without one), fingerprinted by teacher weights, data and settings.</summary>
    public static TeacherTargetCache? OpenCache(StudyContext ctx)
    {
        var cfg = ctx.Config.Distill;
        if (string.IsNullOrWhiteSpace(cfg.TargetCache)) return null;
        var tensors = ctx.Teacher.Module.state_dict().Select(kv => ("teacher." + kv.Key, kv.Value)).ToList();
        if (ctx.ImageLatents is not null) tensors.Add(("image_latents", ctx.ImageLatents));
        if (ctx.VideoLatents is not null) tensors.Add(("video_latents", ctx.VideoLatents));
        var fp = TeacherTargetCache.FingerprintOf(tensors, $"n={cfg.N}", $"shift={cfg.Shift:R}", $"guidance={cfg.Guidance:R}",
            $"negative={ctx.Config.Sampling.NegativePrompt}", $"seed={ctx.Config.Seed}", $"text=" + string.Join("|", ctx.ImageCaptions.Take(8)));
        var cache = TeacherTargetCache.Open(cfg.TargetCache, fp, readOnly: !ctx.IsMain);
        ctx.Out.WriteLine($"[distill] teacher-target cache {cache.Root}: {cache.Count} targets");
        return cache;
    }

    /// <summary>The CD loss with keyed noise and cached teacher steps: n ~ U{0..N-1} and a noise seed k per sample
    /// from <paramref name="rng"/>; eps from a generator seeded by (seed, set, sample, k); x^_n from the cache, else
    /// from the teacher (only for the missing samples, in one batch) and stored.</summary>
    private static Tensor CachedLoss(RunContext ctx, FlowModel student, FlowModel teacher, TeacherTargetCache cache, Batch batch,
        Func<Conditioning, Conditioning> negative, Generator rng)
    {
        var cfg = ctx.Config.Distill;
        var (x0, cond) = (batch.X0, batch.Condition);
        var indices = batch.Indices ?? throw new ArgumentException("CD with a teacher-target cache needs batches that name their samples");
        using var scope = torch.NewScope();
        int b = indices.Length;
        bool video = batch.Set == "video";
        var tk = ConsistencyDistillation.Discretisation(cfg.N, cfg.Shift).to(x0.device);           // [N + 1]
        var n = torch.randint(0, cfg.N, [b], generator: rng, device: x0.device);                     // [B]
        var seeds = torch.randint(0, cfg.NoiseSeeds, [b], generator: rng).data<long>().ToArray();
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
