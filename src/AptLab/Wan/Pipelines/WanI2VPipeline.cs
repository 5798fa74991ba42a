using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Data.Media;
using AptLab.Wan.Clip;

namespace AptLab.Wan.Pipelines;

/// <summary>
/// Image-to-video sampling as the official Wan 2.1 I2V pipeline (docs/wan-dit.md#pipelines). The output follows the input
/// image's aspect ratio within the area W·H of the settings; the DiT is conditioned on
/// <c>y = [mask (4 ch) | VAE latent (16 ch)]</c> of a clip whose first frame is the resized image and whose other
/// frames are zero, and on the CLIP features of the image, in both CFG passes. The features <c>clip_fea</c>
/// [1, 257, 1280] come from the pipeline's <see cref="Clip"/> encoder (docs/wan-clip.md), or are passed in (e.g.
/// loaded with <see cref="ClipFeatures.Load"/>).
/// </summary>
public sealed class WanI2VPipeline : WanPipeline
{
    /// <summary>The CLIP image encoder, or null when callers always pass the features.</summary>
    public ClipImageEncoder? Clip { get; }

    public WanI2VPipeline(WanModel dit, WanVAE vae, UmT5TextEncoder textEncoder, bool ownsModels = false, ClipImageEncoder? clip = null)
        : base(dit, vae, textEncoder, ownsModels)
    {
        var c = dit.config;
        if (clip is not null && clip.Config.Dim != c.ClipDim)
            throw new ArgumentException($"WanI2VPipeline: the CLIP encoder gives {clip.Config.Dim}-wide features but the DiT's img_emb takes clip_dim = {c.ClipDim}");
        Clip = clip;
        if (!c.IsI2V) throw new ArgumentException("WanI2VPipeline: the DiT is a t2v model; use WanT2VPipeline");
        int expected = 2 * vae.config.ZDim + TemporalFactor;
        if (c.InDim != expected)
            throw new ArgumentException($"WanI2VPipeline: the DiT takes in_dim = {c.InDim} channels, but noise + mask + image latent give {expected}");
    }

    /// <summary>Latent height and width for an image of <paramref name="imageHeight"/> × <paramref name="imageWidth"/>
    /// under <paramref name="maxArea"/> pixels (docs/wan-dit.md#pipelines): with a = h0/w0,
    /// <c>lat_h = p·⌊⌊√(area·a)/s⌋/p⌋</c>, <c>lat_w = p·⌊⌊√(area/a)/s⌋/p⌋</c> (s = VAE stride 8, p = patch 2).</summary>
    public (int LatH, int LatW) LatentSize(long maxArea, int imageHeight, int imageWidth)
    {
        int s = Vae.config.SpatialFactor, ph = Dit.config.PatchSize.H, pw = Dit.config.PatchSize.W;
        double a = (double)imageHeight / imageWidth;
        int latH = (int)(Math.Floor(Math.Floor(Math.Sqrt(maxArea * a) / s) / ph) * ph);
        int latW = (int)(Math.Floor(Math.Floor(Math.Sqrt(maxArea / a) / s) / pw) * pw);
        if (latH < ph || latW < pw)
            throw new ArgumentException($"WanI2VPipeline: area {maxArea} is too small for a {imageWidth}x{imageHeight} image (latent {latW}x{latH})");
        return (latH, latW);
    }

    /// <summary>
    /// The first-frame mask [4, T, lat_h, lat_w] (docs/wan-dit.md#pipelines) built as upstream: a per-frame mask over F frames
    /// (1 for frame 0), frame 0's entry repeated <c>TemporalFactor</c> times (F + 3 entries), cut into T groups of 4;
    /// channel c of latent frame t is entry 4t + c. The result is 1 at latent frame 0 and 0 elsewhere.
    /// </summary>
    public static Tensor FirstFrameMask(int frames, int latH, int latW, int temporalFactor = 4)
    {
        using var scope = torch.NewScope();
        var perFrame = torch.zeros([1, frames, latH, latW]);
        perFrame.narrow(1, 0, 1).fill_(1.0);
        var head = perFrame.narrow(1, 0, 1).repeat(1, temporalFactor, 1, 1);   // [1, 4, h, w]
        var msk = torch.cat([head, perFrame.narrow(1, 1, frames - 1)], 1);     // [1, F + 3, h, w]
        long t = msk.size(1) / temporalFactor;
        var grouped = msk.view(1, t, temporalFactor, latH, latW).transpose(1, 2);   // [1, 4, T, h, w]
        return scope.Keep(grouped.squeeze(0).contiguous());                    // [4, T, h, w]
    }

    /// <summary>
    /// The conditioning y [4 + z_dim, T, lat_h, lat_w] for <paramref name="image"/> [3, h0, w0] in [−1, 1]: the image is
    /// bicubic-resized to (8·lat_h, 8·lat_w), put as frame 0 of an F-frame clip of zeros, VAE-encoded (normalised)
    /// and prefixed with <see cref="FirstFrameMask"/>.
    /// </summary>
    public Tensor Conditioning(Tensor image, int frames, int latH, int latW)
    {
        if (image.dim() != 3 || image.size(0) != 3)
            throw new ArgumentException($"WanI2VPipeline: image must be [3, H, W] in [-1, 1], got [{string.Join(", ", image.shape)}]");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        int s = Vae.config.SpatialFactor;
        var dev = Vae.latent_mean.device;
        var resized = F.interpolate(image.to(dev, ScalarType.Float32).unsqueeze(0), [(long)latH * s, (long)latW * s],
            F.InterpolateMode.Bicubic, align_corners: false);                  // [1, 3, h, w]
        var clip = torch.cat([resized.unsqueeze(2), torch.zeros([1, 3, frames - 1, (long)latH * s, (long)latW * s], ScalarType.Float32, dev)], 2);   // [1, 3, F, h, w]
        var latent = Vae.encode(clip).squeeze(0);                               // [16, T, lat_h, lat_w]
        var mask = FirstFrameMask(frames, latH, latW, TemporalFactor).to(dev);  // [4, T, lat_h, lat_w]
        return scope.Keep(torch.cat([mask, latent], 0));                        // [20, T, lat_h, lat_w]
    }

    /// <summary>An 8-bit RGB image as the official pipeline reads it (<c>to_tensor(img).sub_(0.5).div_(0.5)</c>):
    /// [3, H, W] float32 with (k / 255 − 0.5) / 0.5 for each value k, rounded as upstream rounds it.</summary>
    public static Tensor ImageTensor(RgbImage image)
    {
        using var scope = torch.NewScope();
        var k = TensorImages.ToTensor(image, 0f, 255f);                         // [3, H, W], exactly k
        return scope.Keep((k / 255.0 - 0.5) / 0.5);
    }

    /// <summary>The CLIP features of <paramref name="image"/> [3, h0, w0] in [−1, 1], computed from the original image
    /// as upstream does: [1, N_img, clip_dim] float32 (N_img = 257 for ViT-H/14).</summary>
    public Tensor EncodeImage(Tensor image)
    {
        if (Clip is null)
            throw new InvalidOperationException("WanI2VPipeline: no CLIP image encoder was given; pass the CLIP features (clip_fea) instead");
        if (image.dim() != 3 || image.size(0) != 3)
            throw new ArgumentException($"WanI2VPipeline: image must be [3, H, W] in [-1, 1], got [{string.Join(", ", image.shape)}]");
        return Clip.Encode(image);
    }

    /// <summary>Generates one clip from <paramref name="image"/> [3, h0, w0] in [−1, 1] and its CLIP features
    /// <paramref name="clipFea"/> [1, N_img, clip_dim] (null: <see cref="EncodeImage"/>). The area is
    /// settings.Width·Height; the output size follows the image's aspect ratio (<see cref="LatentSize"/>). The
    /// default negative prompt is <see cref="WanNegativePrompts.ImageToVideo"/>.</summary>
    public WanSampleResult Generate(WanSampleSettings settings, Tensor image, Tensor? clipFea = null, Action<WanSampleProgress>? progress = null)
    {
        settings.Validate(SizeMultiple, TemporalFactor);
        if (image.dim() != 3 || image.size(0) != 3)
            throw new ArgumentException($"WanI2VPipeline: image must be [3, H, W] in [-1, 1], got [{string.Join(", ", image.shape)}]");
        using var scope = torch.NewScope();
        if (clipFea is null)
        {
            progress?.Invoke(new WanSampleProgress("clip", 0, settings.Steps, double.NaN, TimeSpan.Zero));
            clipFea = EncodeImage(image);                                        // [1, N_img, clip_dim]
        }
        if (clipFea.dim() == 2) clipFea = clipFea.unsqueeze(0);
        if (clipFea.dim() != 3 || clipFea.size(0) != 1 || clipFea.size(2) != Dit.config.ClipDim)
            throw new ArgumentException($"WanI2VPipeline: clip_fea must be [1, N_img, {Dit.config.ClipDim}] (CLIP ViT-H/14 features: [1, 257, 1280]), got [{string.Join(", ", clipFea.shape)}]");
        var (latH, latW) = LatentSize((long)settings.Width * settings.Height, (int)image.size(1), (int)image.size(2));
        progress?.Invoke(new WanSampleProgress("encode", 0, settings.Steps, double.NaN, TimeSpan.Zero));
        var y = Conditioning(image, settings.Frames, latH, latW);                // [20, T, lat_h, lat_w]
        var noise = Noise([Vae.config.ZDim, y.size(1), latH, latW], settings.Seed);   // [16, T, lat_h, lat_w]
        var result = Run(settings, WanNegativePrompts.ImageToVideo, noise, clipFea, y, progress);
        scope.KeepAll(result.Video, result.Latent);
        return result;
    }

    public override void Dispose()
    {
        if (OwnsModels) Clip?.Dispose();
        base.Dispose();
    }
}
