namespace AptLab.Evaluation;

/// <summary>
/// No-reference sharpness of images in [-1, 1], computed on the Rec. 601 luma Y = 0.299 R + 0.587 G + 0.114 B
/// after clamping to [-1, 1], over the interior pixels only (no padding artefacts).
/// <list type="bullet">
/// <item><b>Laplacian variance</b>: the population variance, over the (H-2)(W-2) interior pixels, of the 5-point
///   Laplacian L = Y(x-1,y) + Y(x+1,y) + Y(x,y-1) + Y(x,y+1) - 4 Y(x,y). Blur lowers it (the Laplacian is a
///   high-pass filter); a +-a checkerboard gives (8a)^2 = 64 a^2, a grating cos(w x) gives (2 - 2 cos w)^2 / 2.
///   Noise raises it too, so compare it with the same number on real data rather than maximising it.</item>
/// <item><b>High-frequency energy ratio</b>: ||Y - B*Y||^2 / ||Y - mean Y||^2 over the interior, with B the 3x3
///   binomial blur ([1,2,1]/4 in each direction). It is the fraction of the (mean-removed) signal energy the
///   blur removes: 1 for the Nyquist checkerboard, ((1 - cos w) / 2)^2 for a grating cos(w x), 0 for flat images
///   (defined as 0 when the image has no variance). Scale-free (independent of contrast).</item>
/// </list>
/// Inputs are images [N, 3, H, W] or clips [N, 3, T, H, W] (frames are scored separately and averaged per clip).
/// </summary>
public static class Sharpness
{
    /// <summary>Laplacian variance per image (or per clip, averaged over its frames): [N].</summary>
    public static double[] LaplacianVariance(Tensor images)
    {
        using var scope = torch.NewScope();
        var (y, n, t) = LumaFrames(images);                                        // y: [N*T, 1, H, W]
        var lap = FilterBank.FilterValid(y, FilterBank.Laplacian()).flatten(1);     // [N*T, (H-2)(W-2)]
        return PerClip(lap.var(1, correction: 0), n, t);
    }

    /// <summary>High-frequency energy ratio per image (or per clip, averaged over its frames): [N], each in [0, 1].</summary>
    public static double[] HighFrequencyRatio(Tensor images)
    {
        using var scope = torch.NewScope();
        var (y, n, t) = LumaFrames(images);                                        // [N*T, 1, H, W]
        long h = y.shape[2], w = y.shape[3];
        var interior = y.narrow(2, 1, h - 2).narrow(3, 1, w - 2).flatten(1);        // [N*T, P]
        var blurred = FilterBank.FilterValid(y, FilterBank.Binomial3()).flatten(1); // [N*T, P]
        var high = (interior - blurred).square().sum(1);
        var total = (interior - interior.mean(1, keepdim: true)).square().sum(1);
        var ratio = torch.where(total.gt(1e-20), high / total.clamp(min: 1e-20), 0.0);
        return PerClip(ratio, n, t);
    }

    /// <summary>Mean Laplacian variance over all images/clips.</summary>
    public static double MeanLaplacianVariance(Tensor images) => LaplacianVariance(images).Average();

    /// <summary>Mean high-frequency energy ratio over all images/clips.</summary>
    public static double MeanHighFrequencyRatio(Tensor images) => HighFrequencyRatio(images).Average();

    // images [N, 3, H, W] or [N, 3, T, H, W] -> luma frames [N*T, 1, H, W] float64
    private static (Tensor y, long n, long t) LumaFrames(Tensor images)
    {
        var s = images.shape;
        Tensor frames;
        long t;
        if (s.Length == 4 && s[1] == 3) { frames = images; t = 1; }
        else if (s.Length == 5 && s[1] == 3) { frames = images.permute(0, 2, 1, 3, 4).reshape(-1, 3, s[3], s[4]); t = s[2]; }
        else throw new ArgumentException($"sharpness needs images [N, 3, H, W] or clips [N, 3, T, H, W]; got [{string.Join(", ", s)}]");
        if (s[^1] < 3 || s[^2] < 3) throw new ArgumentException($"sharpness needs frames of at least 3x3 pixels; got {s[^2]}x{s[^1]}");
        if (s[0] == 0) throw new ArgumentException("sharpness needs at least one image");
        var x = frames.to(Device.CPU, ScalarType.Float64).clamp(-1, 1);
        return (FilterBank.Luma(x), s[0], t);
    }

    private static double[] PerClip(Tensor perFrame, long n, long t) => perFrame.view(n, t).mean(1).data<double>();
}
