namespace AptLab.Wan.Clip;

/// <summary>
/// What Wan's <c>CLIPModel.visual</c> does to an image before the tower (docs/wan-clip.md): an image in [−1, 1] is
/// resized straight to <see cref="ImageSize"/>² (bicubic, Keys A = −0.75, align_corners false, no antialiasing, no
/// clamping, aspect ratio not kept), mapped to [0, 1] by <c>x·0.5 + 0.5</c>, then normalised per channel by
/// <c>(x − mean) / std</c>. Everything in float32.
/// </summary>
public sealed record ClipPreprocess(int ImageSize, float[] Mean, float[] Std)
{
    /// <summary>The OpenAI CLIP normalisation constants that Wan's CLIP uses.</summary>
    public static readonly float[] OpenAIMean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] OpenAIStd = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>The preprocessing of a tower: its image size with the OpenAI mean and std.</summary>
    public static ClipPreprocess For(ClipVisionConfig config) => new(config.ImageSize, OpenAIMean, OpenAIStd);

    /// <summary>Resize and map to [0, 1]: images [B, 3, H, W] (or [3, H, W]) in [−1, 1] → [B, 3, S, S] float32.</summary>
    public Tensor Resize(Tensor images)
    {
        using var scope = torch.NewScope();
        var x = Batch(images).to(ScalarType.Float32);                              // [B, 3, H, W]
        var r = F.interpolate(x, [ImageSize, ImageSize], F.InterpolateMode.Bicubic, align_corners: false);   // [B, 3, S, S]
        return scope.Keep(r * 0.5 + 0.5);                                  // the in-place mul_(0.5).add_(0.5) of upstream
    }

    /// <summary>(x − mean) / std per channel; x: [B, 3, S, S] float32.</summary>
    public Tensor Normalize(Tensor x)
    {
        using var scope = torch.NewScope();
        var mean = torch.tensor(Mean, 1, 3, 1, 1).to(x.device);
        var std = torch.tensor(Std, 1, 3, 1, 1).to(x.device);
        return scope.Keep((x - mean) / std);
    }

    /// <summary><see cref="Resize"/> then <see cref="Normalize"/>: the tower's input [B, 3, S, S].</summary>
    public Tensor Pixels(Tensor images)
    {
        using var scope = torch.NewScope();
        return scope.Keep(Normalize(Resize(images)));
    }

    private static Tensor Batch(Tensor images)
    {
        var x = images.dim() == 3 ? images.unsqueeze(0) : images;
        if (x.dim() != 4 || x.size(1) != 3)
            throw new ArgumentException($"CLIP preprocessing: images must be [3, H, W] or [B, 3, H, W] in [-1, 1], got [{string.Join(", ", images.shape)}]");
        return x;
    }
}
