using AptLab.Apt;
using AptLab.Data;
using AptLab.Wan;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// The apt kind on a released Wan 2.1 DiT (docs/apt.md#heads): the discriminator's backbone is a copy of the checkpoint
/// named by wan.checkpoint (the original weights, docs/apt.md#discriminator), the generator starts from apt.student (the CD
/// student's state dict) or, when apt.student is empty, from the student this run distils first (<see cref="Distill"/>
/// -> checkpoints/cd.safetensors, skipped by a resumed run that has it), the image phase reads wan.image_data and the video phase wan.video_data (LatentCache
/// folders, <see cref="WanAptConfig"/>). Phases, checkpoints, resume and data parallelism are those of
/// <see cref="AptStage"/>; the products are checkpoints/apt_image_ema.safetensors and apt_video_ema.safetensors.
/// </summary>
public static class WanAptExperiment
{
    public static void Run(RunContext ctx)
    {
        var cfg = ctx.Config;
        var wan = cfg.Wan!;
        bool distil = string.IsNullOrWhiteSpace(cfg.Apt.Student);
        ctx.Out.WriteLine($"[apt] Wan teacher {wan.Checkpoint}, generator {(distil ? "the CD student of this run" : cfg.Apt.Student)}");
        using var teacher = new WanFlowModel(WanCheckpoint.Load(wan.Checkpoint, null, wan.ModelDtype(), ctx.Device));
        teacher.Net.GradientCheckpointing = wan.GradientCheckpointing;
        if (wan.Architecture() is { } preset)
        {
            var c = teacher.Net.config;
            if ((c.Dim, c.FfnDim, c.NumHeads, c.NumLayers, c.InDim) != (preset.Dim, preset.FfnDim, preset.NumHeads, preset.NumLayers, preset.InDim))
                throw new InvalidDataException($"wan.checkpoint {wan.Checkpoint} holds a DiT of dim {c.Dim}, {c.NumLayers} blocks, not the {wan.Preset} of wan.preset");
        }
        teacher.Module.eval();
        using var student = distil ? Distill(ctx, teacher) : StudyCheckpoints.LoadModel(ctx, teacher, "student", cfg.Apt.Student);

        WanFlowModel? image = null, video = null;
        try
        {
            var init = student;
            if (!string.IsNullOrWhiteSpace(wan.ImageData))
            {
                image = Phase(ctx, teacher, init, video: false, wan.ImageData);
                init = image;
            }
            if (!string.IsNullOrWhiteSpace(wan.VideoData))
                video = Phase(ctx, teacher, init, video: true, wan.VideoData);
        }
        finally
        {
            image?.Dispose();
            video?.Dispose();
        }
    }

    /// <summary>
    /// The CD student of the teacher (<see cref="CdStage"/>, docs/consistency-distillation.md#settings; the distill section's steps, batch,
    /// lr, weight_decay, n, shift, guidance), or this run's checkpoints/cd.safetensors. Batches come from
    /// wan.image_data (single frames) and wan.video_data (clips): with both, odd steps draw images and even steps
    /// clips, as the demo and the OmniAvatar kind do; with one of them, every step draws from it. The teacher's CFG
    /// negative is the negative prompt's umT5 context (wan.negative_context, or wan.negative_prompt encoded once with
    /// wan.text_encoder_path), zero-padded to the DiT's text_len like the captions.
    /// </summary>
    public static WanFlowModel Distill(RunContext ctx, WanFlowModel teacher) => CdStage.Student(ctx, teacher, () =>
    {
        var wan = ctx.Config.Wan!;
        var net = teacher.Net.config;
        WanLatentData? Open(string folder, bool video) => string.IsNullOrWhiteSpace(folder) ? null
            : new WanLatentData(folder, wan.LatentShape(video), net, ctx.Device, wan.ModelDtype(), video ? "wan.video_data" : "wan.image_data");
        var images = Open(wan.ImageData, false);
        var clips = Open(wan.VideoData, true);
        using var negative = PaddedNegative(ctx, net);                                   // [1, text_len, text_dim]
        var d = ctx.Config.Distill;
        ctx.Out.WriteLine($"[distill] CD of the Wan teacher: {d.Steps} steps of {d.Batch}, N {d.N}, shift {d.Shift}, guidance {d.Guidance}; " +
                          (images is null ? "" : $"{images.Count} images") + (images is null || clips is null ? "" : " and ") +
                          (clips is null ? "" : $"{clips.Count} clips") + (images is null || clips is null ? "" : " alternating"));
        var student = (WanFlowModel)teacher.Copy();
        student.Module.requires_grad_(true);
        try
        {
            CdStage.Train(ctx, student, teacher,
                (step, size, rng) => (clips is not null && (images is null || step % 2 == 0) ? clips : images!).Batch(size, rng),
                c => new Conditioning(negative.expand(c.Context.size(0), negative.size(1), negative.size(2))));
            return student;
        }
        catch { student.Dispose(); throw; }
    });

    /// <summary>wan's negative context [1, text_len, text_dim] (zero rows after the prompt's tokens).</summary>
    private static Tensor PaddedNegative(RunContext ctx, WanConfig net)
    {
        var wan = ctx.Config.Wan!;
        using var neg = NegativeContext.Load(ctx, wan.Negative(), net.TextDim, wan.ModelDtype(), "distill");   // [1, L, text_dim]
        if (neg.size(1) > net.TextLen)
            throw new InvalidDataException($"wan: the negative prompt has {neg.size(1)} tokens but the DiT's text_len is {net.TextLen}");
        return F.pad(neg, [0, 0, 0, net.TextLen - neg.size(1)]);
    }

    private static WanFlowModel Phase(RunContext ctx, WanFlowModel teacher, WanFlowModel init, bool video, string folder)
    {
        string stage = video ? "apt_video_ema" : "apt_image_ema";
        if (StudyCheckpoints.Has(ctx, stage)) return StudyCheckpoints.LoadModel(ctx, teacher, stage);
        var data = new WanLatentData(folder, ctx.Config.Wan!.LatentShape(video), teacher.Net.config, ctx.Device,
            ctx.Config.Wan!.ModelDtype(), video ? "wan.video_data" : "wan.image_data");
        ctx.Out.WriteLine($"[apt_{(video ? "video" : "image")}] {data.Count} samples from {folder}; effective batch " +
                          $"{ctx.Config.Apt.EffectiveBatch(video ? ctx.Config.Apt.Video : ctx.Config.Apt.Image)}");
        var ema = ctx.Timed(video ? "apt_video" : "apt_image", () => AptStage.RunPhase(ctx, teacher, init, video, data.Batch));
        StudyCheckpoints.SaveModel(ctx, stage, ema);
        return ema;
    }
}
