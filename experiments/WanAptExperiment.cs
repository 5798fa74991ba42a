using AptLab.Apt;
using AptLab.Data;
using AptLab.Training;
using AptLab.Wan;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// The apt kind on a released Wan 2.1 DiT (docs/apt.md#heads): the discriminator's backbone is a copy of the checkpoint
/// named by wan.checkpoint (the original weights, docs/apt.md#discriminator), the generator starts from apt.student (the
/// CD student's state dict) or, when apt.student is empty, from the student this run distils first (<see cref="Distill"/>
/// -> checkpoints/cd.safetensors, skipped by a resumed run that has it), the image phase reads wan.image_data and the
/// video phase wan.video_data (LatentCache folders, <see cref="WanAptConfig"/>). Phases, checkpoints, resume and data
/// parallelism are those of <see cref="AptStage"/>; the products are checkpoints/apt_image_ema.safetensors and
/// apt_video_ema.safetensors. CD and both phases train under the run's precision and parallel mode; under fsdp the
/// whole teacher stays in host memory and the accelerators hold shards (docs/precision-and-parallelism.md).
/// With wan.random_weights the inputs are seeded random ones written into the run folder (<see cref="WanTinyInputs"/>).
/// </summary>
public static class WanAptExperiment
{
    public static void Run(RunContext ctx)
    {
        var cfg = ctx.Config;
        var wan = cfg.Wan!;
        if (wan.RandomWeights) WanTinyInputs.Prepare(ctx);
        bool distil = string.IsNullOrWhiteSpace(cfg.Apt.Student);
        ctx.Out.WriteLine($"[apt] Wan teacher {wan.Checkpoint}, generator {(distil ? "the CD student of this run" : cfg.Apt.Student)}; " +
                          $"precision {cfg.Precision}, parallel {cfg.Parallel}");
        using var teacher = new WanFlowModel(WanCheckpoint.Load(wan.Checkpoint, null, wan.ModelDtype(), ctx.WholeModelDevice));
        teacher.Net.GradientCheckpointing = wan.GradientCheckpointing;
        if (wan.Architecture() is { } preset)
        {
            var c = teacher.Net.config;
            if ((c.Dim, c.FfnDim, c.NumHeads, c.NumLayers, c.InDim) != (preset.Dim, preset.FfnDim, preset.NumHeads, preset.NumLayers, preset.InDim))
                throw new InvalidDataException($"wan.checkpoint {wan.Checkpoint} holds a DiT of dim {c.Dim}, {c.NumLayers} blocks, not the {wan.Preset} of wan.preset");
        }
        teacher.Module.eval();
        var (student, studentWeights) = distil
            ? (Distill(ctx, teacher), StudyCheckpoints.PathOf(ctx, CdStage.Stage))
            : (StudyCheckpoints.LoadModel(ctx, teacher, "student", cfg.Apt.Student), cfg.Apt.Student);
        using var _student = student;

        WanFlowModel? image = null, video = null;
        try
        {
            var (init, initWeights) = (student, studentWeights);
            if (!string.IsNullOrWhiteSpace(wan.ImageData))
            {
                image = Phase(ctx, teacher, init, initWeights, video: false, wan.ImageData);
                (init, initWeights) = (image, StudyCheckpoints.PathOf(ctx, AptStage.Product(video: false)));
            }
            if (!string.IsNullOrWhiteSpace(wan.VideoData))
                video = Phase(ctx, teacher, init, initWeights, video: true, wan.VideoData);
        }
        finally
        {
            image?.Dispose();
            video?.Dispose();
        }
    }

    /// <summary>The dtype of the training data and the CFG negative: float32 (the models cast their inputs to their
    /// compute dtype), bf16 under the pure bf16 policy.</summary>
    private static ScalarType DataDtype(RunContext ctx) => ctx.Precision == Precision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

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
            : new WanLatentData(folder, wan.LatentShape(video), net, ctx.Device, DataDtype(ctx), video ? "wan.video_data" : "wan.image_data");
        var images = Open(wan.ImageData, false);
        var clips = Open(wan.VideoData, true);
        using var negative = PaddedNegative(ctx, net);                                   // [1, text_len, text_dim]
        var d = ctx.Config.Distill;
        ctx.Out.WriteLine($"[distill] CD of the Wan teacher: {d.Steps} steps of {d.Batch}, N {d.N}, shift {d.Shift}, guidance {d.Guidance}; " +
                          (images is null ? "" : $"{images.Count} images") + (images is null || clips is null ? "" : " and ") +
                          (clips is null ? "" : $"{clips.Count} clips") + (images is null || clips is null ? "" : " alternating"));
        using var student = teacher.Copy();
        CdStage.Train(ctx, student, teacher,
            (step, size, rng) => (clips is not null && (images is null || step % 2 == 0) ? clips : images!).Batch(size, rng),
            c => new Conditioning(negative.expand(c.Context.size(0), negative.size(1), negative.size(2))));
    });

    /// <summary>wan's negative context [1, text_len, text_dim] (zero rows after the prompt's tokens).</summary>
    private static Tensor PaddedNegative(RunContext ctx, WanConfig net)
    {
        var wan = ctx.Config.Wan!;
        using var neg = NegativeContext.Load(ctx, wan.Negative(), net.TextDim, DataDtype(ctx), "distill");   // [1, L, text_dim]
        if (neg.size(1) > net.TextLen)
            throw new InvalidDataException($"wan: the negative prompt has {neg.size(1)} tokens but the DiT's text_len is {net.TextLen}");
        return F.pad(neg, [0, 0, 0, net.TextLen - neg.size(1)]);
    }

    private static WanFlowModel Phase(RunContext ctx, WanFlowModel teacher, WanFlowModel init, string initWeights, bool video, string folder)
    {
        var data = new WanLatentData(folder, ctx.Config.Wan!.LatentShape(video), teacher.Net.config, ctx.Device,
            DataDtype(ctx), video ? "wan.video_data" : "wan.image_data");
        var s = video ? ctx.Config.Apt.Video : ctx.Config.Apt.Image;
        ctx.Out.WriteLine($"[apt_{(video ? "video" : "image")}] {data.Count} samples from {folder}; effective batch " +
                          $"{s.MicroBatch * s.Accumulation * ctx.WorldSize} ({s.MicroBatch} x {s.Accumulation} accumulated x {ctx.WorldSize} rank(s))");
        return AptStage.Phase(ctx, teacher, init, initWeights, video, data.Batch);
    }
}
