using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Wan.Pipelines;

/// <summary>
/// Text-to-video sampling as the official Wan 2.1 T2V pipeline (docs/wan-dit.md#pipelines):
/// <code>
/// ctx = T5(prompt), ctx_null = T5(negative or Wan's default negative prompt)
/// x   = N(0, I) of shape [16, (F − 1)/4 + 1, H/8, W/8]       (seeded)
/// for t_k in the schedule (UniPC by default, or Euler):
///     v = v_u + g (v_c − v_u),  v_c = DiT(x, t_k, ctx),  v_u = DiT(x, t_k, ctx_null)
///     x = sampler.step(v, t_k, x)
/// video = VAE.decode(x)                                       [3, F, H, W] in [−1, 1]
/// </code>
/// </summary>
public sealed class WanT2VPipeline : WanPipeline
{
    public WanT2VPipeline(WanModel dit, WanVAE vae, UmT5TextEncoder textEncoder, bool ownsModels = false)
        : base(dit, vae, textEncoder, ownsModels)
    {
        if (dit.config.IsI2V) throw new ArgumentException("WanT2VPipeline: the DiT is an i2v model; use WanI2VPipeline");
        if (dit.config.InDim != vae.config.ZDim)
            throw new ArgumentException($"WanT2VPipeline: the DiT takes in_dim = {dit.config.InDim} channels but the VAE latent has z_dim = {vae.config.ZDim}");
    }

    /// <summary>Generates one clip. The noise is <see cref="WanPipeline.Noise"/> of the latent shape with
    /// <see cref="WanSampleSettings.Seed"/>.</summary>
    public WanSampleResult Generate(WanSampleSettings settings, Action<WanSampleProgress>? progress = null)
    {
        settings.Validate(SizeMultiple, TemporalFactor);
        using var scope = torch.NewScope();
        var noise = Noise(LatentShape(settings.Frames, settings.Height, settings.Width), settings.Seed);   // [16, T, h, w]
        var result = Run(settings, WanNegativePrompts.Default, noise, null, null, progress);
        scope.KeepAll(result.Video, result.Latent);
        return result;
    }

    /// <summary>The final latent [16, T, h, w] only (no VAE decode), e.g. for evaluations in latent space.</summary>
    public Tensor GenerateLatent(WanSampleSettings settings, Action<WanSampleProgress>? progress = null)
    {
        settings.Validate(SizeMultiple, TemporalFactor);
        using var scope = torch.NewScope();
        var noise = Noise(LatentShape(settings.Frames, settings.Height, settings.Width), settings.Seed);
        return scope.Keep(Denoise(settings, WanNegativePrompts.Default, noise, null, null, progress, System.Diagnostics.Stopwatch.StartNew()));
    }
}
