namespace AptLab.Human.Data;

/// <summary>
/// Reading a <see cref="TalkingFaces"/> frame back (docs/omnihuman.md#the-study): where the face is and how open its
/// mouth is, from pixels alone, so generated and real clips are measured the same way.
/// <list type="number">
/// <item>face-ness of a pixel w = clamp((Y + 0.4) / 0.5, 0, 1) on the luma Y in [-1, 1] (faces are bright, backgrounds,
/// eyes and mouth dark);</item>
/// <item>the face mask: in every column, the span between its first and last pixel with w &gt; 0.5, so the dark eyes and
/// mouth inside the disc are filled; centre = the mask's centroid, radius = sqrt(area / π);</item>
/// <item>mouth opening = Σ over the mask's pixels with 0.1 r ≤ y - cy ≤ 0.85 r and |x - cx| ≤ 0.55 r of the darkness
/// clamp((Y_face - Y) / (Y_face - Y_feature), 0, 1), in pixels, Y_face the mean luma of the pixels with w &gt; 0.9.</item>
/// </list>
/// </summary>
public static class FaceMeasures
{
    public sealed record FrameMeasure(double CentreX, double CentreY, double Radius, double MouthOpening);

    /// <summary>Per frame of a clip [3, T, H, W] (values in [-1, 1]).</summary>
    public static FrameMeasure[] Measure(Tensor clip)
    {
        if (clip.dim() != 4 || clip.size(0) != 3) throw new ArgumentException($"FaceMeasures: a clip must be [3, T, H, W], got [{string.Join(", ", clip.shape)}]");
        using var scope = torch.NewScope();
        long t = clip.size(1), h = clip.size(2), w = clip.size(3);
        var c = clip.to(Device.CPU, ScalarType.Float32).clamp(-1, 1);
        var luma = (c.select(0, 0) * 0.299 + c.select(0, 1) * 0.587 + c.select(0, 2) * 0.114).contiguous().data<float>();   // [T, H, W]
        var result = new FrameMeasure[t];
        for (int f = 0; f < t; f++) result[f] = Frame(luma.AsSpan((int)(f * h * w), (int)(h * w)), (int)h, (int)w);
        return result;
    }

    private static FrameMeasure Frame(ReadOnlySpan<float> y, int h, int w)
    {
        var mask = new bool[h * w];
        double area = 0, sx = 0, sy = 0, faceLuma = 0, faceCount = 0;
        for (int x = 0; x < w; x++)
        {
            int top = -1, bottom = -1;
            for (int r = 0; r < h; r++)
                if (Faceness(y[r * w + x]) > 0.5) { if (top < 0) top = r; bottom = r; }
            if (top < 0) continue;
            for (int r = top; r <= bottom; r++) { mask[r * w + x] = true; area++; sx += x + 0.5; sy += r + 0.5; }
        }
        for (int i = 0; i < h * w; i++)
            if (Faceness(y[i]) > 0.9) { faceLuma += y[i]; faceCount++; }
        if (area == 0) return new FrameMeasure(w / 2.0, h / 2.0, 0, 0);
        double cx = sx / area, cy = sy / area, radius = Math.Sqrt(area / Math.PI);
        double yFace = faceCount > 0 ? faceLuma / faceCount : 0.5, span = Math.Max(0.1, yFace - TalkingFaces.FeatureLevel);
        double opening = 0;
        for (int r = 0; r < h; r++)
            for (int x = 0; x < w; x++)
            {
                if (!mask[r * w + x]) continue;
                double dy = r + 0.5 - cy, dx = x + 0.5 - cx;
                if (dy < 0.1 * radius || dy > 0.85 * radius || Math.Abs(dx) > 0.55 * radius) continue;
                opening += Math.Clamp((yFace - y[r * w + x]) / span, 0, 1);
            }
        return new FrameMeasure(cx, cy, radius, opening);
    }

    private static double Faceness(float luma) => Math.Clamp((luma + 0.4) / 0.5, 0, 1);

    /// <summary>Pearson correlation of two series (0 when either is constant).</summary>
    public static double Correlation(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count || a.Count < 2) throw new ArgumentException($"correlation needs two series of the same length >= 2 (got {a.Count}, {b.Count})");
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Count; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return saa < 1e-12 || sbb < 1e-12 ? 0 : sab / Math.Sqrt(saa * sbb);
    }
}
