using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// The Wan 2.1 3D causal VAE (official <c>WanVAE_</c> with the latent normalisation of the <c>WanVAE</c>
/// wrapper). State-dict keys equal those of <c>Wan2.1_VAE.pth</c>: <c>encoder.*</c>, <c>conv1.*</c>
/// (1×1×1, 2·z_dim → 2·z_dim on the encoder output), <c>conv2.*</c> (1×1×1, z_dim → z_dim before the decoder),
/// <c>decoder.*</c>. The normalisation constants are non-persistent buffers (not in the state dict).
/// <para>
/// <see cref="encode"/> and <see cref="decode"/> run the official streaming algorithm: the encoder sees frame 0
/// alone, then chunks of 4 frames; the decoder sees one latent frame at a time; per-layer feature caches carry
/// the causal context between chunks and are freed when the call returns. The result equals a causal network
/// run on the whole clip (<see cref="encode_whole_sequence"/>, <see cref="decode_whole_sequence"/>), which needs
/// far more memory at real sizes. Run under <c>torch.no_grad()</c> for inference.
/// </para>
/// </summary>
public sealed partial class WanVAE : Module
{
    public readonly WanVaeConfig config;
    public readonly Encoder3d encoder;
    public readonly CausalConv3d conv1, conv2;
    public readonly Decoder3d decoder;

    public WanVAE(WanVaeConfig config, LatentStats? stats = null)
    {
        this.config = config.Validate();
        stats = (stats ?? LatentStats.Wan21).Validate(config.ZDim);
        encoder = RegisterModule("encoder", new Encoder3d(config, 2L * config.ZDim));
        conv1 = RegisterModule("conv1", new CausalConv3d(2L * config.ZDim, 2L * config.ZDim, 1));
        conv2 = RegisterModule("conv2", new CausalConv3d(config.ZDim, config.ZDim, 1));
        decoder = RegisterModule("decoder", new Decoder3d(config));
        using var scope = torch.NewScope();
        var mean = torch.tensor(stats.mean, 1, config.ZDim, 1, 1, 1);
        var std = torch.tensor(stats.std, 1, config.ZDim, 1, 1, 1);
        RegisterBuffer("latent_mean", mean.clone(), persistent: false);
        RegisterBuffer("latent_inv_std", (1.0 / std).contiguous(), persistent: false);   // 1/std in float32, as upstream
    }

    /// <summary>Per-channel mean [1, z_dim, 1, 1, 1].</summary>
    public Tensor latent_mean => Buffer("latent_mean");
    /// <summary>Per-channel 1/std [1, z_dim, 1, 1, 1] (computed in float32).</summary>
    public Tensor latent_inv_std => Buffer("latent_inv_std");

    // ---- shape checks ----

    /// <summary>Throws naming the offending value unless video is [B, 3, 1+4k, 8m, 8n] (for Wan 2.1's factors).</summary>
    public void CheckVideo(Tensor video)
    {
        var s = video.shape;
        if (s.Length != 5 || s[1] != 3)
            throw new ArgumentException($"WanVAE.encode: video must be [B, 3, T, H, W], got [{string.Join(", ", s)}]");
        int ft = config.TemporalFactor, fs = config.SpatialFactor;
        if (s[2] < 1 || (s[2] - 1) % ft != 0)
            throw new ArgumentException($"WanVAE.encode: frame count T = {s[2]} must be 1 + {ft}k (1, {1 + ft}, {1 + 2 * ft}, ...)");
        if (s[3] % fs != 0 || s[3] == 0) throw new ArgumentException($"WanVAE.encode: height H = {s[3]} must be a positive multiple of {fs}");
        if (s[4] % fs != 0 || s[4] == 0) throw new ArgumentException($"WanVAE.encode: width W = {s[4]} must be a positive multiple of {fs}");
    }

    private void CheckLatent(Tensor z)
    {
        var s = z.shape;
        if (s.Length != 5 || s[1] != config.ZDim || s[2] < 1)
            throw new ArgumentException($"WanVAE.decode: latent must be [B, {config.ZDim}, t ≥ 1, h, w], got [{string.Join(", ", s)}]");
    }

    // ---- encode ----

    /// <summary>
    /// Streaming encode of <paramref name="video"/> [B, 3, T, H, W] in [-1, 1] to the raw moments
    /// (mu, log_var), each [B, z_dim, 1+(T-1)/4, H/8, W/8].
    /// </summary>
    public (Tensor mu, Tensor log_var) encode_moments(Tensor video)
    {
        CheckVideo(video);
        using var scope = torch.NewScope();
        long t = video.size(2);
        int ft = config.TemporalFactor;
        var outputs = new List<Tensor>();
        using (var cache = new FeatureCache())
        {
            for (long start = 0; start < t; start = start == 0 ? 1 : start + ft)
            {
                using var chunkScope = torch.NewScope();
                long len = start == 0 ? 1 : ft;
                cache.BeginChunk();
                outputs.Add(chunkScope.Keep(encoder.forward(video.slice(2, start, start + len), cache)));  // [B, 2z, 1, h, w]
            }
        }
        var moments = conv1.forward(torch.cat(outputs, 2));                    // [B, 2z, t, h, w]
        var parts = moments.chunk(2, 1);
        return (scope.Keep(parts[0]), scope.Keep(parts[1]));
    }

    /// <summary>Normalised latent [B, z_dim, 1+(T-1)/4, H/8, W/8] of <paramref name="video"/> [B, 3, T, H, W] in
    /// [-1, 1]: (mu − mean)·(1/std), what the DiT sees (official <c>WanVAE.encode</c>).</summary>
    public Tensor encode(Tensor video)
    {
        using var scope = torch.NewScope();
        var (mu, _) = encode_moments(video);
        return scope.Keep(normalize(mu));
    }

    /// <summary>(mu − mean)·(1/std). mu: [B, z_dim, t, h, w]</summary>
    public Tensor normalize(Tensor mu) => (mu - latent_mean) * latent_inv_std;

    /// <summary>z / (1/std) + mean, the inverse of <see cref="normalize"/>. z: [B, z_dim, t, h, w]</summary>
    public Tensor denormalize(Tensor z) => z / latent_inv_std + latent_mean;

    // ---- decode ----

    /// <summary>
    /// Streaming decode of the normalised latent <paramref name="z"/> [B, z_dim, t, h, w] to video
    /// [B, 3, 1+4(t-1), 8h, 8w], clamped to [-1, 1] unless <paramref name="clamp"/> is false (official
    /// <c>WanVAE.decode</c> clamps, <c>WanVAE_.decode</c> does not).
    /// </summary>
    public Tensor decode(Tensor z, bool clamp = true)
    {
        CheckLatent(z);
        using var scope = torch.NewScope();
        var x = conv2.forward(denormalize(z));                                  // [B, z, t, h, w]
        long t = x.size(2), total = 1 + config.TemporalFactor * (t - 1), written = 0;
        Tensor? video = null;                                                   // [B, 3, total, H, W], filled per frame
        using (var cache = new FeatureCache())
        {
            for (long i = 0; i < t; i++)
            {
                using var frameScope = torch.NewScope();
                cache.BeginChunk();
                var y = decoder.forward(x.slice(2, i, i + 1), cache);           // [B, 3, 1 (first) or 4, H, W]
                if (video is null)
                {
                    var s = y.shape;
                    video = frameScope.Keep(torch.empty([s[0], s[1], total, s[3], s[4]], y.dtype, y.device));
                }
                video.narrow(2, written, y.size(2)).copy_(y);
                written += y.size(2);
            }
        }
        if (written != total) throw new InvalidOperationException($"WanVAE.decode: wrote {written} frames, expected {total}");
        if (clamp) video!.clamp_(-1, 1);
        return scope.Keep(video!);
    }

    // ---- whole-sequence oracle ----

    /// <summary>The same encode as one causal pass over the whole clip (docs/wan-vae.md#streaming): equal to
    /// <see cref="encode_moments"/> up to rounding, but every activation holds all frames at once.</summary>
    public (Tensor mu, Tensor log_var) encode_whole_sequence(Tensor video)
    {
        CheckVideo(video);
        using var scope = torch.NewScope();
        var parts = conv1.forward(encoder.forward(video, null)).chunk(2, 1);
        return (scope.Keep(parts[0]), scope.Keep(parts[1]));
    }

    /// <summary>The same decode as one causal pass over the whole latent sequence (not clamped).</summary>
    public Tensor decode_whole_sequence(Tensor z)
    {
        CheckLatent(z);
        using var scope = torch.NewScope();
        return scope.Keep(decoder.forward(conv2.forward(denormalize(z)), null));
    }
}
