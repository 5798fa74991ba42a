using System.Diagnostics;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Wan.Pipelines;

/// <summary>A generated clip: <see cref="Video"/> [3, F, H, W] in [−1, 1] (the VAE decode, clamped) and the final
/// normalised latent <see cref="Latent"/> [z_dim, T, h, w]. Both are owned by the caller's dispose scope.</summary>
public sealed record WanSampleResult(Tensor Video, Tensor Latent) : IDisposable
{
    public int Frames => (int)Video.size(1);
    public int Height => (int)Video.size(2);
    public int Width => (int)Video.size(3);

    public void Dispose()
    {
        Video.Dispose();
        Latent.Dispose();
    }
}

/// <summary>
/// The parts every Wan pipeline shares: the DiT, the VAE and the umT5 text path, checked for compatibility
/// (latent channels, text width), plus prompt encoding, seeded noise and decoding. The pipeline does not own
/// the models unless <c>ownsModels</c> is set; then <see cref="Dispose"/> frees them.
/// </summary>
public abstract class WanPipeline : IDisposable
{
    public WanModel Dit { get; }
    public WanVAE Vae { get; }
    public UmT5TextEncoder TextEncoder { get; }
    protected bool OwnsModels { get; }

    protected WanPipeline(WanModel dit, WanVAE vae, UmT5TextEncoder textEncoder, bool ownsModels)
    {
        (Dit, Vae, TextEncoder, OwnsModels) = (dit, vae, textEncoder, ownsModels);
        var c = dit.config;
        if (c.OutDim != vae.config.ZDim)
            throw new ArgumentException($"Wan pipeline: the DiT predicts out_dim = {c.OutDim} channels but the VAE latent has z_dim = {vae.config.ZDim}");
        if (c.TextDim != textEncoder.Encoder.config.Dim)
            throw new ArgumentException($"Wan pipeline: the DiT expects text_dim = {c.TextDim} but the text encoder outputs {textEncoder.Encoder.config.Dim}");
    }

    /// <summary>Pixel height/width must be multiples of this: VAE stride × patch size (8 × 2 = 16 for Wan 2.1).</summary>
    public int SizeMultiple => Vae.config.SpatialFactor * Math.Max(Dit.config.PatchSize.H, Dit.config.PatchSize.W);
    public int TemporalFactor => Vae.config.TemporalFactor;

    /// <summary>Latent shape [z_dim, (F − 1)/4 + 1, H/8, W/8] for a clip of F frames at H × W (docs/wan-dit.md#pipelines).</summary>
    public long[] LatentShape(int frames, int height, int width) =>
        [Vae.config.ZDim, (frames - 1) / TemporalFactor + 1, height / Vae.config.SpatialFactor, width / Vae.config.SpatialFactor];

    /// <summary>Seeded standard-normal noise of <paramref name="shape"/>, float32, drawn on the CPU (so a seed gives
    /// the same noise on every device; the official CUDA generator's stream cannot be reproduced anyway).</summary>
    public static Tensor Noise(long[] shape, ulong seed)
    {
        using var g = new Generator(seed);
        return torch.randn(shape, ScalarType.Float32, Device.CPU, g);
    }

    /// <summary>The prompt's text context [L, text_dim] (its real tokens, EOS included; docs/umt5.md#output), encoded alone
    /// as the official pipeline does.</summary>
    public Tensor EncodePrompt(string prompt) => TextEncoder.Encode([prompt])[0];

    /// <summary>VAE decode of a latent [z_dim, T, h, w] → video [3, 1 + 4(T − 1), 8h, 8w] in [−1, 1].</summary>
    public Tensor Decode(Tensor latent)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var dev = Vae.latent_mean.device;
        return scope.Keep(Vae.decode(latent.to(dev, ScalarType.Float32).unsqueeze(0)).squeeze(0));
    }

    /// <summary>Encodes the prompts and denoises <paramref name="noise"/>: the final latent [z_dim, T, h, w].</summary>
    protected Tensor Denoise(WanSampleSettings s, string defaultNegative, Tensor noise, Tensor? clipFea, Tensor? y,
        Action<WanSampleProgress>? progress, Stopwatch clock)
    {
        using var scope = torch.NewScope();
        progress?.Invoke(new WanSampleProgress("text", 0, s.Steps, double.NaN, clock.Elapsed));
        var ctx = EncodePrompt(s.Prompt);                                        // [Lc, text_dim]
        var ctxNull = EncodePrompt(s.NegativePrompt ?? defaultNegative);         // [Ln, text_dim]
        return scope.Keep(WanDenoiser.Sample(Dit, noise, ctx, ctxNull, s.CreateSampler(), s.Guide, clipFea, y,
            progress is null ? null : p => progress(p with { Elapsed = clock.Elapsed })));
    }

    /// <summary><see cref="Denoise"/> then <see cref="Decode"/>.</summary>
    protected WanSampleResult Run(WanSampleSettings s, string defaultNegative, Tensor noise, Tensor? clipFea, Tensor? y,
        Action<WanSampleProgress>? progress)
    {
        using var scope = torch.NewScope();
        var clock = Stopwatch.StartNew();
        var latent = Denoise(s, defaultNegative, noise, clipFea, y, progress, clock);
        progress?.Invoke(new WanSampleProgress("decode", s.Steps, s.Steps, double.NaN, clock.Elapsed));
        var video = Decode(latent);                                             // [3, F, H, W]
        return new WanSampleResult(scope.Keep(video), scope.Keep(latent));
    }

    public virtual void Dispose()
    {
        if (!OwnsModels) return;
        Dit.Dispose();
        Vae.Dispose();
        TextEncoder.Encoder.Dispose();
        TextEncoder.Tokenizer.Dispose();
        GC.SuppressFinalize(this);
    }
}
