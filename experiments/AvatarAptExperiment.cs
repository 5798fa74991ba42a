using AptLab.Apt;
using AptLab.Models.Wan.Text;
using AptLab.Torch.IO;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// The apt-omniavatar kind: the whole APT of an OmniAvatar teacher in one run folder (apt.md 4.3, 5.7, 5.8, 11.4).
/// <list type="number">
/// <item>Teacher (Wan base + OmniAvatar LoRA/audio, LoRA merged; <see cref="AvatarAptModels"/>); the CFG negative
/// prompt encoded once with umT5 (or read from omniavatar.data.negative_context).</item>
/// <item>Consistency distillation (distill: N, shift, guidance) with <see cref="ConsistencyDistillation"/>; the
/// teacher's CFG negative is the negative prompt with zero audio and the same y (<see cref="OmniAvatarFlowModel.Negative"/>);
/// image (one latent frame) and clip batches alternate -> checkpoints/cd.safetensors.</item>
/// <item>Image phase from the CD student, video phase from the image phase's EMA, each with a discriminator freshly
/// copied from the teacher (<see cref="AptStage"/>: checkpoints, resume, data parallelism)
/// -> checkpoints/apt_image_ema.safetensors, apt_video_ema.safetensors.</item>
/// <item>The final EMA generator exported to &lt;run&gt;/generator.safetensors (<see cref="AvatarGenerator"/>).</item>
/// </list>
/// A resumed run skips finished stages and continues a phase from its newest checkpoint.
/// </summary>
public static class AvatarAptExperiment
{
    public const string Export = "generator.safetensors";

    public static void Run(RunContext ctx)
    {
        var cfg = ctx.Config;
        var oa = cfg.Omniavatar!;
        var log = new List<string>();
        using var teacher = AvatarAptModels.BuildTeacher(oa, ctx.Device, cfg.Seed, log);
        foreach (var l in log) ctx.Out.WriteLine($"[apt-omniavatar] {l}");
        var samples = OpenSamples(ctx);
        ctx.Out.WriteLine($"[apt-omniavatar] {samples.Count} samples from {samples.Root}");
        using var negative = NegativeContext(ctx, teacher.Net.wanConfig.TextDim);
        ctx.Log.Text(0, "config", "```yaml\n" + (File.Exists(ctx.Run.ConfigFile) ? File.ReadAllText(ctx.Run.ConfigFile) : "") + "\n```");

        OmniAvatarFlowModel? cd = null, image = null, video = null;
        try
        {
            if (StudyCheckpoints.Has(ctx, "cd")) cd = StudyCheckpoints.LoadModel(ctx, teacher, "cd");
            else
            {
                cd = ctx.Timed("distill", () => Distill(ctx, teacher, samples, negative));
                StudyCheckpoints.SaveModel(ctx, "cd", cd);
            }
            image = Phase(ctx, teacher, cd, samples, video: false);
            video = Phase(ctx, teacher, image, samples, video: true);
            ctx.OnMain(() => AvatarGenerator.Save(ctx.Run.File(Export), video, new Dictionary<string, string>
            {
                ["stage"] = "apt_video_ema", ["experiment"] = cfg.Name, ["updates"] = $"{cfg.Apt.Image.Updates}+{cfg.Apt.Video.Updates}",
            }));
            ctx.Out.WriteLine($"[apt-omniavatar] one-step generator: {ctx.Run.File(Export)}");
        }
        finally
        {
            cd?.Dispose();
            image?.Dispose();
            video?.Dispose();
        }
    }

    /// <summary>Consistency distillation of the teacher into a student (a copy of it, or model.student_init).</summary>
    public static OmniAvatarFlowModel Distill(RunContext ctx, OmniAvatarFlowModel teacher, AvatarAptSamples samples, Tensor negative)
    {
        var cfg = ctx.Config.Distill;
        var student = AvatarAptModels.BuildStudent(ctx.Config.Omniavatar!, teacher, []);
        using var opt = new AdamW(student.Module.parameters(), lr: cfg.Lr, weight_decay: cfg.WeightDecay);
        var progress = new ProgressReporter("distill", cfg.Steps, ctx.Out, every: 10);
        using var rng = new Generator(ctx.Config.Seed + 33);
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            var (x0, c) = samples.Batch(cfg.Batch, video: step % 2 == 0, rng);
            var neg = OmniAvatarFlowModel.Negative(c, negative);
            var loss = ConsistencyDistillation.Loss(student, teacher, x0, c, neg, cfg.Settings, rng).loss;
            loss.backward();
            opt.step();
            opt.zero_grad();
            double l = loss.item<double>();
            ctx.Log.Scalar(step, "cd/loss", l);
            progress.Report(step, new Dictionary<string, double> { ["loss"] = l }, cfg.Batch);
        }
        student.Module.eval();
        return student;
    }

    private static OmniAvatarFlowModel Phase(RunContext ctx, OmniAvatarFlowModel teacher, OmniAvatarFlowModel init, AvatarAptSamples samples, bool video)
    {
        string stage = video ? "apt_video_ema" : "apt_image_ema";
        if (StudyCheckpoints.Has(ctx, stage)) return StudyCheckpoints.LoadModel(ctx, teacher, stage);
        var settings = video ? ctx.Config.Apt.Video : ctx.Config.Apt.Image;
        ctx.Out.WriteLine($"[{stage[..^4]}] effective batch {settings.MicroBatch * settings.Accumulation * ctx.WorldSize} " +
                          $"({settings.MicroBatch} x {settings.Accumulation} accumulated x {ctx.WorldSize} rank(s))");
        var ema = ctx.Timed(stage[..^4], () => AptStage.RunPhase(ctx, teacher, init, video, (n, rng) => samples.Batch(n, video, rng)));
        StudyCheckpoints.SaveModel(ctx, stage, ema);
        return ema;
    }

    /// <summary>The configured cache, or (random_weights without one) seeded random samples written to &lt;run&gt;/cache.</summary>
    private static AvatarAptSamples OpenSamples(RunContext ctx)
    {
        var oa = ctx.Config.Omniavatar!;
        var folder = oa.Data.Cache;
        if (string.IsNullOrWhiteSpace(folder))
        {
            folder = ctx.Run.File("cache");
            var arch = oa.Model.Architecture;
            ctx.OnMain(() =>
            {
                if (!File.Exists(Path.Combine(folder, "index.jsonl")))
                    AvatarAptSamples.WriteRandom(folder, oa.Data.RandomSamples, oa.Data.VideoLatentFrames, arch.AudioInDim, arch.Wan.TextDim, ctx.Config.Seed + 1);
            });
        }
        return AvatarAptSamples.Open(folder, oa.Data, ctx.Device, oa.ModelDtype);
    }

    /// <summary>The negative prompt's context [1, Lt, text_dim] on the run's device, in the model dtype.</summary>
    public static Tensor NegativeContext(RunContext ctx, long textDim)
    {
        var oa = ctx.Config.Omniavatar!;
        var d = oa.Data;
        using var scope = torch.NewScope();
        Tensor rows;                                                                           // [Lt, text_dim]
        string source;
        if (!string.IsNullOrWhiteSpace(d.NegativeContext))
        {
            source = Path.GetFullPath(d.NegativeContext);
            using var sd = Checkpoint.Load(source);
            rows = sd.TryGetValue("context", out var c) && c.dim() == 2 ? c.to(ScalarType.Float32).clone()
                : throw new InvalidDataException($"{source}: needs a \"context\" tensor [Lt, {textDim}] (omniavatar.data.negative_context)");
        }
        else
        {
            bool random = oa.Model.RandomWeights;
            var tokPath = Path.GetFullPath(!string.IsNullOrWhiteSpace(d.TokenizerPath) ? d.TokenizerPath
                : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(d.TextEncoderPath))!, "google", "umt5-xxl"));
            using var tokenizer = new UmT5Tokenizer(tokPath, textLen: random ? AvatarAptModelConfig.TinyTextLen : 512);
            using var g = new Generator(ctx.Config.Seed + 7);
            using var t5 = random
                ? new T5Encoder(T5EncoderConfig.Tiny with { Vocab = Math.Max(tokenizer.VocabSize, 2), TextLen = AvatarAptModelConfig.TinyTextLen }, generator: g)
                : T5Encoder.FromCheckpoint(Path.GetFullPath(d.TextEncoderPath), T5EncoderConfig.UmT5Xxl, oa.ModelDtype);
            rows = new UmT5TextEncoder(tokenizer, t5).Encode([d.NegativePrompt])[0].to(ScalarType.Float32);
            source = random ? "a tiny random umT5" : d.TextEncoderPath;
        }
        if (rows.size(1) != textDim)
            throw new InvalidDataException($"the negative context from {source} is [{string.Join(", ", rows.shape)}] but the DiT's text_dim is {textDim}");
        ctx.Out.WriteLine($"[apt-omniavatar] negative prompt: {rows.size(0)} tokens from {source}");
        return scope.Keep(rows.unsqueeze(0).to(ctx.Device).to(oa.ModelDtype));
    }
}
