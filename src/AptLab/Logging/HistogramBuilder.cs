namespace AptLab.Logging;

/// <summary>
/// Builds a <see cref="TbHistogram"/> the way PyTorch's writer does: count values into bins like
/// numpy.histogram (bin i holds edge[i] &lt;= v &lt; edge[i+1], the last bin also holds its right edge; values
/// outside the edges are not counted), then trim empty bins on both sides, keeping one empty bin before
/// the first non-empty one so its left edge shows. TensorBoard pairs each count with its bin's right edge.
/// </summary>
public static class HistogramBuilder
{
    private static readonly Lazy<double[]> TfEdges = new(BuildTensorFlowEdges);

    /// <summary>
    /// TensorFlow's default edges (PyTorch bins="tensorflow"): ±1e-12 growing by a factor 1.1 up to 1e20,
    /// mirrored around a 0 edge.
    /// </summary>
    public static double[] TensorFlowEdges => TfEdges.Value;

    private static double[] BuildTensorFlowEdges()
    {
        var pos = new List<double>();
        for (double v = 1e-12; v < 1e20; v *= 1.1) pos.Add(v);
        var edges = new double[2 * pos.Count + 1];
        for (int i = 0; i < pos.Count; i++) { edges[pos.Count - 1 - i] = -pos[i]; edges[pos.Count + 1 + i] = pos[i]; }
        return edges;
    }

    /// <summary><paramref name="bins"/> equal-width bins over [min, max] (numpy's bins=int; [v-0.5, v+0.5] if all equal).</summary>
    public static double[] LinearEdges(ReadOnlySpan<double> values, int bins)
    {
        if (bins < 1) throw new ArgumentException($"histogram bins must be >= 1, got {bins}");
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (var v in values) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        if (lo == hi) { lo -= 0.5; hi += 0.5; }
        var edges = new double[bins + 1];
        for (int i = 0; i <= bins; i++) edges[i] = lo + (hi - lo) * i / bins;
        edges[bins] = hi;
        return edges;
    }

    /// <summary>Histogram of <paramref name="values"/> over <paramref name="edges"/> (default: TensorFlow's), trimmed.</summary>
    public static TbHistogram Build(ReadOnlySpan<double> values, ReadOnlySpan<double> edges = default, string tag = "histogram")
    {
        if (values.IsEmpty) throw new ArgumentException($"histogram '{tag}' has no values");
        if (edges.IsEmpty) edges = TensorFlowEdges;
        if (edges.Length < 2) throw new ArgumentException($"histogram '{tag}' needs at least two bin edges");
        var counts = Count(values, edges, tag);
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0, sumSq = 0;
        foreach (var v in values) { min = Math.Min(min, v); max = Math.Max(max, v); sum += v; sumSq += v * v; }

        int first = Array.FindIndex(counts, c => c > 0), last = Array.FindLastIndex(counts, c => c > 0);
        if (first < 0) throw new ArgumentException($"histogram '{tag}': all values fall outside the bin edges [{edges[0]}, {edges[^1]}]");
        // Pair each kept count with its bin's right edge; prepend the empty bin left of the first non-empty one
        // (a zero count at edges[first] when first == 0, since no bin lies left of it).
        int n = last - first + 2;
        var limits = new double[n];
        var bucket = new double[n];
        for (int k = 0; k < n; k++)
        {
            int b = first - 1 + k;                                  // bin index, -1 = the virtual empty bin
            bucket[k] = b >= 0 ? counts[b] : 0;
            limits[k] = edges[b + 1];
        }
        return new TbHistogram(min, max, values.Length, sum, sumSq, limits, bucket);
    }

    /// <summary>
    /// Counts per bin, numpy.histogram's rule: bin i holds edge[i] &lt;= v &lt; edge[i+1], the last bin is closed,
    /// values outside the edges are dropped. NaN/Inf values are an error naming <paramref name="tag"/>.
    /// </summary>
    public static double[] Count(ReadOnlySpan<double> values, ReadOnlySpan<double> edges, string tag = "histogram")
    {
        if (edges.Length < 2) throw new ArgumentException($"histogram '{tag}' needs at least two bin edges");
        var counts = new double[edges.Length - 1];
        int nonFinite = 0;
        foreach (var v in values)
        {
            if (!double.IsFinite(v)) { nonFinite++; continue; }
            int bin = BinOf(edges, v);
            if (bin >= 0) counts[bin]++;
        }
        if (nonFinite > 0) throw new ArgumentException($"histogram '{tag}' has {nonFinite} NaN/Inf values of {values.Length}");
        return counts;
    }

    // numpy.histogram's rule: [e_i, e_{i+1}) with the last bin closed; -1 outside.
    private static int BinOf(ReadOnlySpan<double> edges, double v)
    {
        if (v < edges[0] || v > edges[^1]) return -1;
        if (v == edges[^1]) return edges.Length - 2;
        int lo = 0, hi = edges.Length - 1;                          // edges[lo] <= v < edges[hi]
        while (hi - lo > 1)
        {
            int mid = (lo + hi) >> 1;
            if (edges[mid] <= v) lo = mid; else hi = mid;
        }
        return lo;
    }
}
