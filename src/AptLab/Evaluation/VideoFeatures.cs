namespace AptLab.Evaluation;

/// <summary>
/// Fixed features of short clips in [-1, 1]: <c>clips [N, 3, T, H, W] -> [N, 125 + 22]</c> (float64).
/// The first <see cref="ImageFeatures.Dim"/> columns are the per-frame <see cref="ImageFeatures"/> averaged over
/// the T frames (appearance); the last 22 are temporal statistics of consecutive-frame differences
/// d_t = x_{t+1} - x_t (motion), so a frozen, flickering or wrongly moving clip is far from real ones:
/// <list type="number">
/// <item>temporal_abs_diff (3): mean |d_t| per RGB channel (how much changes per frame).</item>
/// <item>temporal_layout (16): mean |luma d_t| on a 4x4 grid (where it changes).</item>
/// <item>global_flow (3): the global translation (u, v) in px/frame that best explains each frame pair
///   (Lucas-Kanade over the whole frame on the luma blurred with a Gaussian of std 2 px: minimise
///   sum (I_x u + I_y v + I_t)^2 + lambda (u^2 + v^2), lambda = 1% of the structure tensor's trace),
///   averaged over t, and the mean of sqrt(u^2 + v^2) over t. u > 0 is motion to the right, v > 0 downwards.</item>
/// </list>
/// Temporal blocks carry the fixed weights of <see cref="TemporalBlocks"/>. With T = 1 they are all zero.
/// </summary>
public static class VideoFeatures
{
    public static readonly IReadOnlyList<FeatureBlock> TemporalBlocks =
    [
        new("temporal_abs_diff", ImageFeatures.Dim, 3, 20.0, "mean |x_{t+1} - x_t| per channel"),
        new("temporal_layout", ImageFeatures.Dim + 3, 16, 3.0, "mean |luma difference| on a 4x4 grid"),
        new("global_flow", ImageFeatures.Dim + 19, 3, 0.6, "global Lucas-Kanade flow u, v and its mean speed (px/frame)"),
    ];

    public static int Dim => ImageFeatures.Dim + 22;

    /// <summary>Features of <paramref name="clips"/> [N, 3, T, H, W]: a CPU float64 tensor [N, D].</summary>
    public static Tensor Compute(Tensor clips, int chunk = 16)
    {
        var s = clips.shape;
        if (s.Length != 5 || s[1] != 3)
            throw new ArgumentException($"video features need clips [N, 3, T, H, W]; got [{string.Join(", ", s)}]");
        if (s[0] == 0 || s[2] == 0) throw new ArgumentException($"video features need at least one clip and one frame; got [{string.Join(", ", s)}]");
        if (chunk < 1) throw new ArgumentException($"chunk must be >= 1, got {chunk}");
        long n = s[0], t = s[2], h = s[3], w = s[4];
        using var scope = torch.NewScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < n; start += chunk)
        {
            using var inner = torch.NewScope();
            long m = Math.Min(chunk, n - start);
            var x = clips.narrow(0, start, m).to(Device.CPU, ScalarType.Float32).clamp(-1, 1);   // [m, 3, T, H, W]
            var frames = x.permute(0, 2, 1, 3, 4).reshape(m * t, 3, h, w);                     // [m*T, 3, H, W]
            var appearance = ImageFeatures.Compute(frames).view(m, t, -1).mean(1);              // [m, 125]
            var motion = t >= 2 ? Temporal(x) : torch.zeros([m, 22], ScalarType.Float64);        // [m, 22]
            parts.Add(inner.Keep(torch.cat([appearance, motion.to(ScalarType.Float64)], 1)));
        }
        return scope.Keep(torch.cat(parts, 0));
    }

    // x: [m, 3, T, H, W], T >= 2 -> [m, 22]
    private static Tensor Temporal(Tensor x)
    {
        long m = x.shape[0], t = x.shape[2], h = x.shape[3], w = x.shape[4];
        var d = x.narrow(2, 1, t - 1) - x.narrow(2, 0, t - 1);                              // [m, 3, T-1, H, W]
        var absDiff = d.abs().mean([2L, 3L, 4L]);                                           // [m, 3]
        var dFrames = d.permute(0, 2, 1, 3, 4).reshape(m * (t - 1), 3, h, w);
        var lumaDiff = FilterBank.Luma(dFrames).abs();                                      // [m*(T-1), 1, H, W]
        var layout = F.adaptive_avg_pool2d(lumaDiff, 4, 4).view(m, t - 1, 16).mean(1);      // [m, 16]
        var flow = GlobalFlow(x);                                                           // [m, T-1, 2]
        var speed = flow.square().sum(2).sqrt().mean(1, keepdim: true);                     // [m, 1]
        var blocks = new[] { absDiff, layout, torch.cat([flow.mean(1), speed], 1) };
        for (int i = 0; i < blocks.Length; i++) blocks[i] = blocks[i] * TemporalBlocks[i].Weight;
        return torch.cat(blocks, 1);
    }

    /// <summary>
    /// Whole-frame Lucas-Kanade translation between consecutive frames of <paramref name="x"/> [m, 3, T, H, W]:
    /// [m, T-1, 2] as (u, v) in px/frame.
    /// </summary>
    public static Tensor GlobalFlow(Tensor x)
    {
        using var scope = torch.NewScope();
        long m = x.shape[0], t = x.shape[2], h = x.shape[3], w = x.shape[4];
        var frames = x.to(Device.CPU, ScalarType.Float32).permute(0, 2, 1, 3, 4).reshape(m * t, 3, h, w);
        var blurred = FilterBank.FilterSame(FilterBank.Luma(frames), FilterBank.GaussianKernel(2.0));    // [m*T, 1, H, W]
        var lum = blurred.to(ScalarType.Float64).view(m, t, h, w);                                    // sums below in float64
        var i0 = lum.narrow(1, 0, t - 1).reshape(m * (t - 1), 1, h, w);
        var i1 = lum.narrow(1, 1, t - 1).reshape(m * (t - 1), 1, h, w);
        var (ix, iy, _) = ImageFeatures.Gradients((i0 + i1) * 0.5);                        // [m*(T-1), 1, H-2, W-2]
        var it = (i1 - i0).narrow(2, 1, h - 2).narrow(3, 1, w - 2);
        Tensor S(Tensor a, Tensor b) => (a * b).sum([1L, 2L, 3L]);                          // [m*(T-1)]
        var sxx = S(ix, ix); var sxy = S(ix, iy); var syy = S(iy, iy);
        var bx = -S(ix, it); var by = -S(iy, it);
        var lambda = (sxx + syy) * 0.01 + 1e-12;
        var a = sxx + lambda; var c = syy + lambda;
        var det = a * c - sxy * sxy;
        var u = (c * bx - sxy * by) / det;
        var v = (a * by - sxy * bx) / det;
        return scope.Keep(torch.stack([u, v], 1).view(m, t - 1, 2));
    }
}
