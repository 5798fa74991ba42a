using AptLab.Apt;
using AptLab.Data.Synthetic;
using AptLab.Logging;
using AptLab.Models.Wan;
using AptLab.Models.Wan.Text;
using AptLab.Models.Wan.Vae;
using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// Everything the stages of a study share: the run folder and its logger, the synthetic data, the VAE, the text
/// path (tokenizer + T5 encoder) and the teacher, and the encoded latents of the training set.
/// <para>Under `aptlab launch` every rank holds a context on the same run folder; only rank 0 (<see cref="IsMain"/>)
/// writes to it: the other ranks' <see cref="Out"/> and <see cref="Log"/> discard everything.</para>
/// </summary>
public sealed class StudyContext : IDisposable
{
    public ExperimentConfig Config { get; }
    public RunDirectory Run { get; }
    public RunLogger Log { get; }
    public TextWriter Out { get; }
    public Device Device { get; }
    public MovingShapes Images { get; }
    public MovingShapes Videos { get; }
    public WanVAE Vae { get; }
    public UmT5Tokenizer Tokenizer { get; }
    public T5Encoder TextEncoder { get; }
    public WanFlowModel Teacher { get; }
    /// <summary>The data-parallel ranks of this run; null for one process.</summary>
    public ProcessGroup? Group { get; }
    /// <summary>Rank 0 (or the only process): the one that writes logs, checkpoints and samples.</summary>
    public bool IsMain => DistributedRun.IsMainProcess(Group);

    /// <summary>Normalised latents of the training set: images [N, z, 1, h, w], videos [M, z, f, h, w].</summary>
    public Tensor? ImageLatents { get; set; }
    public Tensor? VideoLatents { get; set; }
    public string[] ImageCaptions { get; }
    public string[] VideoCaptions { get; }

    public StudyContext(ExperimentConfig config, RunDirectory run, TextWriter output, long? resumeAfterStep = null,
        ProcessGroup? group = null)
    {
        (Config, Run, Group) = (config, run, group);
        Out = IsMain ? output : TextWriter.Null;
        Device = Device.Parse(config.Device);
        Log = IsMain ? new RunLogger(run.Events, run.MetricsCsv, resumeAfterStep) : RunLogger.Discard();
        var d = config.Data;
        Images = new MovingShapes(d.Size, 1, config.Seed);
        Videos = new MovingShapes(d.Size, d.VideoFrames, config.Seed + 1);
        ImageCaptions = Enumerable.Range(0, d.TrainImages).Select(i => Images.Get(i).Caption).ToArray();
        VideoCaptions = Enumerable.Range(0, d.TrainVideos).Select(i => Videos.Get(i).Caption).ToArray();

        torch.manual_seed(config.Seed);
        var v = config.Vae;
        Vae = new WanVAE(new WanVaeConfig(v.Dim, v.ZDim, v.DimMult.ToArray(), v.NumResBlocks, [], v.TemporalDownsample.ToArray()));
        var t = config.Text;
        if (!File.Exists(t.Tokenizer)) throw new FileNotFoundException($"tokenizer model not found: {t.Tokenizer} (text.tokenizer)");
        Tokenizer = new UmT5Tokenizer(t.Tokenizer, t.TextLen);
        TextEncoder = new T5Encoder(new T5EncoderConfig(Tokenizer.VocabSize, t.Dim, t.Dim, t.FfnDim, t.NumHeads, t.NumLayers, TextLen: t.TextLen));
        var tc = config.Teacher;
        Teacher = new WanFlowModel(new WanModel(new WanConfig
        {
            ModelType = "t2v", InDim = v.ZDim, OutDim = v.ZDim, Dim = tc.Dim, FfnDim = tc.FfnDim, FreqDim = 64,
            TextDim = t.Dim, TextLen = t.TextLen, NumHeads = tc.NumHeads, NumLayers = tc.NumLayers,
        }));
        if (Device != Device.CPU) { Vae.to(Device); TextEncoder.to(Device); Teacher.Module.to(Device); }
    }

    /// <summary>Text contexts [B, text_len, dim] (padding rows zero). The encoder is trained in the teacher stage
    /// and frozen afterwards; <paramref name="grad"/> keeps its graph.</summary>
    public Tensor Encode(IReadOnlyList<string> prompts, bool grad = false)
    {
        using var scope = torch.NewScope();
        using var mode = new GradMode(grad && torch.is_grad_enabled());
        var (ids, mask) = Tokenizer.Tokenize(prompts);
        ids = ids.to(Device); mask = mask.to(Device);
        var hidden = TextEncoder.forward(ids, mask);                       // [B, text_len, dim]
        return scope.Keep(hidden * mask.unsqueeze(-1).to(hidden.dtype));
    }

    public Conditioning Condition(IReadOnlyList<string> prompts) => new(Encode(prompts));

    public Conditioning Negative(int batch) => Condition(Enumerable.Repeat(Config.Teacher.NegativePrompt, batch).ToArray());

    /// <summary>Real pixels [n, 3, T, H, W] of held-out samples (indices past the training set).</summary>
    public (Tensor pixels, string[] captions) Heldout(bool video, int count)
    {
        var src = video ? Videos : Images;
        long start = video ? Config.Data.TrainVideos : Config.Data.TrainImages;
        var (px, caps) = src.Batch(start + 1_000_000, count);
        return (px.to(Device), caps);
    }

    /// <summary>Runs <paramref name="write"/> on rank 0 only; every rank waits until it is done.</summary>
    public void OnMain(Action write) => DistributedRun.OnMainProcess(Group, write);

    /// <summary>Rank 0's answer on every rank (decisions such as "does this checkpoint exist" must agree).</summary>
    public bool AgreeWithMain(bool value) => DistributedRun.BroadcastFlag(Group, value);

    /// <summary>Rank 0's string (e.g. the newest checkpoint's path, or null) on every rank.</summary>
    public string? AgreeWithMain(string? value) =>
        Group is null ? value : DistributedRun.BroadcastString(Group, IsMain ? value ?? "" : null) is { Length: > 0 } s ? s : null;

    /// <summary>Rank 0's weights (parameters and buffers) of <paramref name="modules"/> on every rank.</summary>
    public void SyncFromMain(params Module[] modules) => DistributedRun.BroadcastModules(Group, modules);

    /// <summary>Rank 0's values of <paramref name="tensors"/> (same shapes everywhere) on every rank.</summary>
    public void SyncFromMain(params Tensor?[] tensors) => DistributedRun.Broadcast(Group, tensors.OfType<Tensor>());

    public void Dispose()
    {
        Log.Dispose();
        ImageLatents?.Dispose();
        VideoLatents?.Dispose();
        Teacher.Dispose();
        TextEncoder.Dispose();
        Tokenizer.Dispose();
        Vae.Dispose();
    }
}
