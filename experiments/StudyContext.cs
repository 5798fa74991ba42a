using AptLab.Apt;
using AptLab.Data.Synthetic;
using AptLab.Wan;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Torch.Distributed;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// Everything the stages of a study share: the run folder and its logger, the synthetic data, the VAE, the text
/// path (tokenizer + T5 encoder) and the teacher, and the encoded latents of the training set.
/// </summary>
public sealed class StudyContext : RunContext
{
    public MovingShapes Images { get; }
    public MovingShapes Videos { get; }
    public WanVAE Vae { get; }
    public UmT5Tokenizer Tokenizer { get; }
    public T5Encoder TextEncoder { get; }
    public WanFlowModel Teacher { get; }
    /// <summary>Normalised latents of the training set: images [N, z, 1, h, w], videos [M, z, f, h, w].</summary>
    public Tensor? ImageLatents { get; set; }
    public Tensor? VideoLatents { get; set; }
    public string[] ImageCaptions { get; }
    public string[] VideoCaptions { get; }

    public StudyContext(ExperimentConfig config, RunDirectory run, TextWriter output, Logging.ResumePoint? resume = null,
        ProcessGroup? group = null) : base(config, run, output, resume, group)
    {
        var d = config.Data;
        Images = new MovingShapes(d.Size, 1, config.Seed);
        Videos = new MovingShapes(d.Size, d.VideoFrames, config.Seed + Seeds.Clips);
        ImageCaptions = Enumerable.Range(0, d.TrainImages).Select(i => Images.Get(i).Caption).ToArray();
        VideoCaptions = Enumerable.Range(0, d.TrainVideos).Select(i => Videos.Get(i).Caption).ToArray();

        torch.manual_seed(config.Seed);
        var v = config.Vae;
        Vae = new WanVAE(new WanVaeConfig { Dim = v.Dim, ZDim = v.ZDim, DimMult = v.DimMult.ToArray(), NumResBlocks = v.NumResBlocks, TemporalDownsample = v.TemporalDownsample.ToArray() });
        var t = config.Text;
        if (!File.Exists(t.Tokenizer)) throw new FileNotFoundException($"tokenizer model not found: {t.Tokenizer} (text.tokenizer)");
        Tokenizer = new UmT5Tokenizer(t.Tokenizer, t.TextLen);
        TextEncoder = new T5Encoder(new T5EncoderConfig { Vocab = Tokenizer.VocabSize, Dim = t.Dim, DimAttn = t.Dim, DimFfn = t.FfnDim, NumHeads = t.NumHeads, NumLayers = t.NumLayers, TextLen = t.TextLen });
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

    public Conditioning Negative(int batch) => Condition(Enumerable.Repeat(Config.Sampling.NegativePrompt, batch).ToArray());

    /// <summary>Real pixels [n, 3, T, H, W] of held-out samples (indices past the training set). <paramref name="draw"/> 0
    /// is the set every method is scored against; draw 1 is an independent second one (the noise floor of the scores).</summary>
    public (Tensor pixels, string[] captions) Heldout(bool video, int count, int draw = 0)
    {
        var src = video ? Videos : Images;
        long start = video ? Config.Data.TrainVideos : Config.Data.TrainImages;
        var (px, caps) = src.Batch(start + 1_000_000 * (1L + draw), count);
        return (px.to(Device), caps);
    }

    public override void Dispose()
    {
        base.Dispose();
        ImageLatents?.Dispose();
        VideoLatents?.Dispose();
        Teacher.Dispose();
        TextEncoder.Dispose();
        Tokenizer.Dispose();
        Vae.Dispose();
    }
}
