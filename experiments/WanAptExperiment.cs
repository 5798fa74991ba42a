using AptLab.Apt;
using AptLab.Data;
using AptLab.Wan;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// The apt kind on a released Wan 2.1 DiT (apt.md 11): the discriminator's backbone is a copy of the checkpoint
/// named by wan.checkpoint (the original weights, apt.md 11.3), the generator starts from apt.student (the CD
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
    /// The CD student of the teacher (<see cref="CdStage"/>, apt.md 4.3 and 11.4; the distill section's steps, batch,
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

/// <summary>
/// Training batches from a Wan latent cache: per sample "latents" [16, f, h, w] (posterior mean, normalised here
/// with the Wan 2.1 statistics) and "context" [L, text_dim] (zero-padded to text_len).
/// </summary>
public sealed class WanLatentData
{
    private readonly LatentCache cache;
    private readonly long[] shape;
    private readonly WanConfig model;
    private readonly Device device;
    private readonly ScalarType dtype;
    private readonly string key;
    private readonly LatentStats stats = LatentStats.Wan21;

    public int Count => cache.Count;

    public WanLatentData(string folder, long[] shape, WanConfig model, Device device, ScalarType dtype, string key)
    {
        if (!Directory.Exists(folder) || !File.Exists(Path.Combine(folder, "index.jsonl")))
            throw new DirectoryNotFoundException($"config key '{key}': no latent cache (index.jsonl) in {Path.GetFullPath(folder)}");
        (cache, this.shape, this.model, this.device, this.dtype, this.key) = (LatentCache.Open(folder), shape, model, device, dtype, key);
        if (cache.Count == 0) throw new InvalidDataException($"config key '{key}': the latent cache {cache.Root} is empty");
        if (shape[0] != model.InDim) throw new InvalidDataException($"{key}: the DiT takes {model.InDim} latent channels, the data {shape[0]}");
    }

    /// <summary>A batch of <paramref name="size"/> samples drawn uniformly with <paramref name="rng"/>: latents
    /// [B, 16, f, h, w] and their text contexts.</summary>
    public RealBatch Batch(int size, Generator rng)
    {
        using var scope = torch.NewScope();
        var idx = torch.randint(0, cache.Count, [size], generator: rng).data<long>();
        var latents = new List<Tensor>();
        var contexts = new List<Tensor>();
        foreach (var i in idx)
        {
            var (x, c) = Load((int)i);
            latents.Add(x);
            contexts.Add(c);
        }
        var mean = torch.tensor(stats.mean, stats.mean.Length).view(1, -1, 1, 1, 1);
        var std = torch.tensor(stats.std, stats.std.Length).view(1, -1, 1, 1, 1);
        var z = ((torch.stack(latents.ToArray()) - mean) / std).to(device);          // [B, 16, f, h, w]
        var ctx = torch.stack(contexts.ToArray()).to(device);                         // [B, text_len, text_dim]
        return new RealBatch(scope.Keep(z.to(dtype)), new Conditioning(scope.Keep(ctx.to(dtype))));
    }

    private (Tensor latents, Tensor context) Load(int i)
    {
        var entry = cache.Entries[i];
        var file = Path.Combine(cache.Root, entry.File);
        using var s = cache.Load(i);
        if (!s.TryGetValue("latents", out var x))
            throw new InvalidDataException($"{file}: no 'latents' tensor ({key})");
        if (!x.shape.SequenceEqual(shape))
            throw new InvalidDataException($"{file}: latents are [{string.Join(", ", x.shape)}] but {key} needs [{string.Join(", ", shape)}] " +
                                           "(wan image/video size and frames)");
        if (!s.TryGetValue("context", out var c))
            throw new InvalidDataException($"{file}: no 'context' tensor: encode the caption \"{entry.Caption}\" with umT5-XXL first ({key})");
        if (c.dim() != 2 || c.size(1) != model.TextDim || c.size(0) > model.TextLen)
            throw new InvalidDataException($"{file}: context is [{string.Join(", ", c.shape)}], expected [L <= {model.TextLen}, {model.TextDim}]");
        var padded = torch.zeros([model.TextLen, model.TextDim]);
        padded.narrow(0, 0, c.size(0)).copy_(c.to(ScalarType.Float32));
        return (x.to(ScalarType.Float32).clone(), padded);
    }
}
