using AptLab.Avatar.Apt;

namespace AptLab.Experiments.Avatar;

/// <summary>
/// The apt-omniavatar kind: the whole APT of an OmniAvatar teacher in one run folder (docs/consistency-distillation.md#one-training-step, docs/apt.md#training-loop, docs/apt.md#phases, docs/consistency-distillation.md#settings).
/// <list type="number">
/// <item>Teacher (Wan base + OmniAvatar LoRA/audio, LoRA merged; <see cref="AvatarAptModels"/>); the CFG negative
/// prompt encoded once with umT5 (or read from omniavatar.data.negative_context).</item>
/// <item>Consistency distillation (distill: N, shift, guidance) with <see cref="CdStage"/>; the
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
        using var teacher = AvatarAptModels.BuildTeacher(oa, ctx.WholeModelDevice, cfg.Seed, log);
        foreach (var l in log) ctx.Out.WriteLine($"[apt-omniavatar] {l}");
        var samples = OpenSamples(ctx);
        ctx.Out.WriteLine($"[apt-omniavatar] {samples.Count} samples from {samples.Root}");
        using var negative = NegativeContext(ctx, teacher.Net.wanConfig.TextDim);
        ctx.Log.Text(0, "config", "```yaml\n" + (File.Exists(ctx.Run.ConfigFile) ? File.ReadAllText(ctx.Run.ConfigFile) : "") + "\n```");

        OmniAvatarFlowModel? cd = null, image = null, video = null;
        try
        {
            cd = Distill(ctx, teacher, samples, negative);
            image = Phase(ctx, teacher, cd, StudyCheckpoints.PathOf(ctx, CdStage.Stage), samples, video: false);
            video = Phase(ctx, teacher, image, StudyCheckpoints.PathOf(ctx, AptStage.Product(video: false)), samples, video: true);
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

    /// <summary>The CD student (<see cref="CdStage"/>): a copy of the teacher (or model.student_init) distilled on
    /// alternating image (odd steps) and clip (even steps) batches, or this run's checkpoints/cd.safetensors.</summary>
    public static OmniAvatarFlowModel Distill(RunContext ctx, OmniAvatarFlowModel teacher, AvatarAptSamples samples, Tensor negative) =>
        CdStage.Student(ctx, teacher, () =>
        {
            using var student = AvatarAptModels.BuildStudent(ctx.Config.Omniavatar!, teacher, []);
            CdStage.Train(ctx, student, teacher, (step, size, rng) => samples.Batch(size, video: step % 2 == 0, rng),
                c => OmniAvatarFlowModel.Negative(c, negative));
        });

    private static OmniAvatarFlowModel Phase(RunContext ctx, OmniAvatarFlowModel teacher, OmniAvatarFlowModel init, string initWeights,
        AvatarAptSamples samples, bool video)
    {
        var settings = video ? ctx.Config.Apt.Video : ctx.Config.Apt.Image;
        ctx.Out.WriteLine($"[apt_{(video ? "video" : "image")}] effective batch {settings.MicroBatch * settings.Accumulation * ctx.WorldSize} " +
                          $"({settings.MicroBatch} x {settings.Accumulation} accumulated x {ctx.WorldSize} rank(s))");
        return AptStage.Phase(ctx, teacher, init, initWeights, video, (n, rng) => samples.Batch(n, video, rng));
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
                    AvatarAptSamples.WriteRandom(folder, oa.Data.RandomSamples, oa.Data.VideoLatentFrames, arch.AudioInDim, arch.Wan.TextDim, ctx.Config.Seed + Seeds.RandomAvatarSamples);
            });
        }
        return AvatarAptSamples.Open(folder, oa.Data, ctx.Device, oa.ModelDtype);
    }

    /// <summary>The negative prompt's context [1, Lt, text_dim] on the run's device, in the model dtype
    /// (omniavatar.data: negative_context, or negative_prompt encoded with umT5; <see cref="Experiments.NegativeContext"/>).</summary>
    public static Tensor NegativeContext(RunContext ctx, long textDim)
    {
        var oa = ctx.Config.Omniavatar!;
        var d = oa.Data;
        var source = new NegativeSource("omniavatar.data", d.NegativePrompt, d.NegativeContext, d.TextEncoderPath, d.TokenizerPath,
            oa.Model.RandomWeights ? AvatarAptModelConfig.TinyTextLen : 0);
        return Experiments.NegativeContext.Load(ctx, source, textDim, oa.ModelDtype, "apt-omniavatar");
    }
}
