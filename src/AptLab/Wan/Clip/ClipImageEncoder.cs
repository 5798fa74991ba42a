using AptLab.Torch.nn;

namespace AptLab.Wan.Clip;

/// <summary>
/// Wan's CLIP image encoder, <c>CLIPModel.visual</c> (docs/wan-clip.md): <see cref="ClipPreprocess"/> then the vision
/// tower with <c>use_31_block</c> (all blocks but the last; no post-norm, no head). For the released ViT-H/14 an image
/// gives 257 tokens × 1280, the I2V DiT's <c>clip_fea</c>. The module's only child is <c>visual</c>, so its state-dict
/// keys are those of the released checkpoint's vision part (<c>visual.patch_embedding.weight</c>, ...).
/// <code>
/// using var clip = ClipImageEncoder.FromCheckpoint("models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth");
/// var clipFea = clip.Encode(image);          // image [3, H, W] in [-1, 1] -> [1, 257, 1280] float32
/// </code>
/// </summary>
public sealed class ClipImageEncoder : Module
{
    public readonly VisionTransformer visual;
    public ClipPreprocess Preprocess { get; }
    public ClipVisionConfig Config => visual.config;

    public ClipImageEncoder(ClipVisionConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null,
        Generator? generator = null, ClipPreprocess? preprocess = null)
    {
        visual = RegisterModule("visual", new VisionTransformer(config, dtype, device, generator));
        Preprocess = preprocess ?? ClipPreprocess.For(config);
        if (Preprocess.ImageSize != config.ImageSize)
            throw new ArgumentException($"ClipImageEncoder: preprocessing resizes to {Preprocess.ImageSize} but the tower takes image_size {config.ImageSize}");
    }

    /// <summary>Builds the encoder (default: the released ViT-H/14) and loads the vision part of a CLIP checkpoint
    /// (<see cref="ClipCheckpoint.LoadVisual"/>), converting to <paramref name="dtype"/>.</summary>
    public static ClipImageEncoder FromCheckpoint(string path, ClipConfig? config = null, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        config = (config ?? ClipConfig.XlmRobertaVitH14).Validate();
        var enc = new ClipImageEncoder(config.Vision, dtype, device);
        try
        {
            ClipCheckpoint.LoadVisual(enc, path, config);
            enc.eval();
            return enc;
        }
        catch
        {
            enc.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The CLIP features Wan conditions on: images [3, H, W] or [B, 3, H, W] in [−1, 1], any size → [B, 1 + N, dim]
    /// float32 (N = (image_size / patch)², the class token first). Runs without gradients on the tower's device.
    /// </summary>
    public Tensor Encode(Tensor images)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var pixels = Preprocess.Pixels(images.to(visual.pos_embedding.device));   // [B, 3, S, S]
        var features = visual.forward(pixels, interpolation: false, use31Block: true);   // [B, 1 + N, dim]
        return scope.Keep(features.to(ScalarType.Float32));
    }
}
