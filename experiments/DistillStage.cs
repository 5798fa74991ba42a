using AptLab.Diffusion;
using AptLab.Apt;
using AptLab.Data;
using AptLab.Torch.optim;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// Stage 3: consistency distillation of the teacher into a one-step student initialised from it (apt.md 4.3):
/// N shifted discretisation steps, the teacher's guided Euler step with the negative prompt, the target from the
/// current student under stop-gradient, MSE, AdamW. Images and clips alternate.
/// <para>With <c>distill.target_cache</c> the noise of a training sample is one of <c>noise_seeds</c> seeded draws
/// (seeded by (seed, set, sample, noise seed)), so every teacher step is a function of a (sample, noise seed, step)
/// triple and is stored in / read from a <see cref="TeacherTargetCache"/>: a second run with the cache computes the
/// same student without evaluating the teacher for any cached triple.</para>
/// </summary>
public static class DistillStage
{
    public static WanFlowModel Run(StudyContext ctx) => Train(ctx, ctx.Teacher, OpenCache(ctx));

    /// <summary>The configured target cache (null without one), fingerprinted by teacher weights, data and settings.</summary>
    public static TeacherTargetCache? OpenCache(StudyContext ctx)
    {
        var cfg = ctx.Config.Distill;
        if (string.IsNullOrWhiteSpace(cfg.TargetCache)) return null;
        var tensors = ctx.Teacher.Module.state_dict().Select(kv => ("teacher." + kv.Key, kv.Value)).ToList();
        if (ctx.ImageLatents is not null) tensors.Add(("image_latents", ctx.ImageLatents));
        if (ctx.VideoLatents is not null) tensors.Add(("video_latents", ctx.VideoLatents));
        var fp = TeacherTargetCache.FingerprintOf(tensors, $"n={cfg.N}", $"shift={cfg.Shift:R}", $"guidance={cfg.Guidance:R}",
            $"negative={ctx.Config.Teacher.NegativePrompt}", $"seed={ctx.Config.Seed}", $"text=" + string.Join("|", ctx.ImageCaptions.Take(8)));
        var cache = TeacherTargetCache.Open(cfg.TargetCache, fp, readOnly: !ctx.IsMain);
        ctx.Out.WriteLine($"[distill] teacher-target cache {cache.Root}: {cache.Count} targets");
        return cache;
    }

    /// <param name="teacher">the frozen teacher whose guided Euler steps are the targets (the student starts from ctx.Teacher)</param>
    public static WanFlowModel Train(StudyContext ctx, FlowModel teacher, TeacherTargetCache? cache)
    {
        var cfg = ctx.Config.Distill;
        var student = (WanFlowModel)ctx.Teacher.Copy();
        student.Module.train();
        teacher.Module.requires_grad_(false);
        using var opt = new AdamW(student.Module.parameters(), lr: cfg.Lr, weight_decay: cfg.WeightDecay);
        var progress = new ProgressReporter("distill", cfg.Steps, ctx.Out, every: 50);
        using var rng = new Generator(ctx.Config.Seed + 33);
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            bool video = ctx.VideoLatents is not null && step % 2 == 0;
            var (x0, captions, indices) = Batches.SampleIndexed(ctx, video, cfg.Batch, rng);
            var cond = ctx.Condition(captions);
            var neg = ctx.Negative(captions.Length);
            var loss = cache is null
                ? ConsistencyDistillation.Loss(student, teacher, x0, cond, neg, cfg.Settings, rng).loss
                : CachedLoss(ctx, student, teacher, cache, video, x0, indices, cond, rng);
            loss.backward();
            opt.step();
            opt.zero_grad();
            double l = loss.item<double>();
            ctx.Log.Scalar(step, "cd/loss", l);
            progress.Report(step, new Dictionary<string, double> { ["loss"] = l }, captions.Length);
        }
        if (cache is not null)
        {
            ctx.Out.WriteLine($"[distill] teacher targets: {cache.Hits} from the cache, {cache.Misses} computed");
            ctx.Log.Scalars(cfg.Steps, new Dictionary<string, double> { ["cd/cache_hits"] = cache.Hits, ["cd/cache_misses"] = cache.Misses });
        }
        student.Module.eval();
        return student;
    }

    /// <summary>The CD loss with keyed noise and cached teacher steps: n ~ U{0..N-1} and a noise seed k per sample
    /// from <paramref name="rng"/>; eps from a generator seeded by (seed, set, sample, k); x^_n from the cache, else
    /// from the teacher (only for the missing samples, in one batch) and stored.</summary>
    private static Tensor CachedLoss(StudyContext ctx, FlowModel student, FlowModel teacher, TeacherTargetCache cache, bool video,
        Tensor x0, long[] indices, Conditioning cond, Generator rng)
    {
        var cfg = ctx.Config.Distill;
        using var scope = torch.NewScope();
        int b = indices.Length;
        string set = video ? "video" : "image";
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

        var keys = Enumerable.Range(0, b).Select(i => TeacherTargetCache.Key(set, indices[i], seeds[i], steps[i])).ToArray();
        var targets = keys.Select(cache.TryGet).ToArray();
        var missing = Enumerable.Range(0, b).Where(i => targets[i] is null).ToArray();
        if (missing.Length > 0)
        {
            var ids = torch.tensor(missing.Select(i => (long)i).ToArray(), missing.Length).to(x0.device);
            var sub = new Conditioning(cond.Context.index_select(0, ids));
            var computed = ConsistencyDistillation.TeacherStep(teacher, xn1.index_select(0, ids), tn1.index_select(0, ids),
                tn.index_select(0, ids), sub, ctx.Negative(missing.Length), cfg.Guidance);            // [M, C, F, H, W]
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
