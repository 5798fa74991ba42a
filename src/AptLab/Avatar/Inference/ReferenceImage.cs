using AptLab.Data.Media;

namespace AptLab.Avatar.Inference;

/// <summary>
/// Reference-image preprocessing of OmniAvatar (docs/omniavatar.md#conditioning): aspect-ratio bucket (<c>match_size</c>),
/// cover-resize by <c>r = max(Hb/h0, Wb/w0)</c> to <c>(int(h0·r), int(w0·r))</c>, then <c>resize_pad</c>'s centre
/// crop (top/left get floor(d/2) of a negative difference d, i.e. the odd pixel is removed at the top/left), or a
/// zero pad of the 1-pixel shortfall truncation can leave. Output in [−1, 1].
/// Resizing is bilinear without torchvision's antialias filter (small differences when downscaling).
/// </summary>
public static class ReferenceImage
{
    /// <summary><c>match_size</c>: the bucket [H, W] with the closest H/W ratio; on an exactly equal ratio the first
    /// wins unless |max(H, W) − max(h, w)| is also equal, then the later one.</summary>
    public static (int H, int W) MatchSize(IReadOnlyList<int[]> buckets, int h, int w)
    {
        if (buckets.Count == 0) throw new ArgumentException("no image size buckets");
        double bestRatio = 9999, bestSize = 9999;
        (int, int)? selected = null;
        foreach (var b in buckets)
        {
            if (b.Length != 2 || b[0] <= 0 || b[1] <= 0) throw new ArgumentException($"image size bucket [{string.Join(", ", b)}] must be [H, W] with positive sides");
            double ratio = Math.Abs((double)b[0] / b[1] - (double)h / w);
            double size = Math.Abs(Math.Max(b[0], b[1]) - Math.Max(w, h));
            if (ratio < bestRatio) { bestRatio = ratio; bestSize = size; selected = (b[0], b[1]); }
            if (bestRatio == ratio && bestSize == size) selected = (b[0], b[1]);
        }
        return selected!.Value;
    }

    /// <summary>image [1, 3, h0, w0] in [0, 1] → [1, 3, H, W] in [0, 1] (cover-resize, centre crop).</summary>
    public static Tensor ResizeCrop(Tensor image, int height, int width)
    {
        using var scope = torch.NewScope();
        long h0 = image.size(2), w0 = image.size(3);
        double r = Math.Max((double)height / h0, (double)width / w0);
        long rh = (long)(h0 * r), rw = (long)(w0 * r);
        var x = rh == h0 && rw == w0 ? image : F.interpolate(image, [rh, rw], F.InterpolateMode.Bilinear, align_corners: false);
        x = Fit(x, 2, height);
        x = Fit(x, 3, width);
        return scope.Keep(x.contiguous());
    }

    private static Tensor Fit(Tensor x, int dim, long target)                 // crop (or zero-pad) dim to target
    {
        long d = target - x.size(dim);
        if (d == 0) return x;
        long before = (long)Math.Floor(d / 2.0), after = d - before;
        if (d < 0) return x.narrow(dim, -before, target);
        long[] pad = dim == 3 ? [before, after, 0, 0] : [0, 0, before, after];
        return F.pad(x, pad);
    }

    /// <summary>The whole preprocessing of an RGB image: bucket, resize, crop, to [−1, 1] as [1, 3, 1, H, W].</summary>
    public static Tensor Prepare(RgbImage image, IReadOnlyList<int[]> buckets)
    {
        using var scope = torch.NewScope();
        var (hb, wb) = MatchSize(buckets, image.Height, image.Width);
        var x = TensorImages.ToTensor(image.ToRgb()).unsqueeze(0);             // [1, 3, h0, w0] in [0, 1]
        var y = ResizeCrop(x, hb, wb) * 2.0 - 1.0;
        return scope.Keep(y.unsqueeze(2));                                      // [1, 3, 1, Hb, Wb]
    }
}
