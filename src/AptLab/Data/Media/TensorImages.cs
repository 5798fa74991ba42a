namespace AptLab.Data.Media;

/// <summary>Conversions between float tensors and <see cref="RgbImage"/> (convenience over the array API).</summary>
public static class TensorImages
{
    /// <summary>An image from <c>chw: [3, H, W]</c>, <c>[1, H, W]</c> or <c>[H, W]</c>, values <paramref name="low"/>..<paramref name="high"/>.</summary>
    public static RgbImage ToImage(Tensor chw, float low = 0f, float high = 1f)
    {
        var s = chw.shape;
        if (s.Length == 2) s = [1, s[0], s[1]];
        if (s.Length != 3 || s[0] is not (1 or 3))
            throw new ArgumentException($"image tensor must be [3, H, W], [1, H, W] or [H, W]; got [{string.Join(", ", chw.shape)}]");
        using var f = chw.to(Device.CPU, ScalarType.Float32);
        return RgbImage.FromPlanar(f.data<float>(), (int)s[0], (int)s[1], (int)s[2], low, high);
    }

    /// <summary>Frames of a video tensor <c>cthw: [C, T, H, W]</c> (Wan's layout without the batch dim).</summary>
    public static List<RgbImage> ToFrames(Tensor cthw, float low = -1f, float high = 1f)
    {
        var s = cthw.shape;
        if (s.Length != 4 || s[0] is not (1 or 3))
            throw new ArgumentException($"video tensor must be [C, T, H, W] with C = 1 or 3; got [{string.Join(", ", s)}]");
        var frames = new List<RgbImage>((int)s[1]);
        for (long t = 0; t < s[1]; t++)
        {
            using var frame = cthw.select(1, t);                 // [C, H, W]
            frames.Add(ToImage(frame, low, high));
        }
        return frames;
    }

    /// <summary>A float32 tensor <c>[C, H, W]</c> with values in <paramref name="low"/>..<paramref name="high"/>.</summary>
    public static Tensor ToTensor(RgbImage image, float low = 0f, float high = 1f) =>
        torch.tensor(image.ToPlanar(low, high), image.Channels, image.Height, image.Width);
}
