namespace AptLab.Evaluation.Fvd;

/// <summary>
/// TensorFlow's "SAME" padding as I3D computes it from the input size (docs/evaluation.md, "FVD"): per dim,
/// pad = max(k - s, 0) when size % s == 0, else max(k - size % s, 0); the front gets pad / 2 and the back the rest
/// (an odd pad puts the extra element at the end); zeros. The output size is then ceil(size / s).
/// </summary>
public static class SamePadding
{
    /// <summary>Total padding of one dim.</summary>
    public static long Total(long size, long kernel, long stride) =>
        size % stride == 0 ? Math.Max(kernel - stride, 0) : Math.Max(kernel - size % stride, 0);

    /// <summary>Zero-pads x [B, C, T, H, W] for a kernel [kt, kh, kw] and stride [st, sh, sw].</summary>
    public static Tensor Pad(Tensor x, long[] kernel, long[] stride)
    {
        var pad = new long[6];                                                // F.pad order: W front/back, H, T
        for (int d = 0; d < 3; d++)
        {
            long total = Total(x.shape[2 + d], kernel[d], stride[d]);
            int slot = 2 * (2 - d);
            pad[slot] = total / 2;
            pad[slot + 1] = total - total / 2;
        }
        return F.pad(x, pad);
    }

    /// <summary>ceil(size / stride), the output size after same padding.</summary>
    public static long OutSize(long size, long stride) => (size + stride - 1) / stride;
}
