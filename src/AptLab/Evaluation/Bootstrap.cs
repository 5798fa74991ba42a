namespace AptLab.Evaluation;

/// <summary>
/// The nonparametric bootstrap over the samples of an evaluation (docs/evaluation.md#seeds-and-intervals): every
/// replicate redraws each sample set (e.g. the generated samples and the held-out real ones) with replacement and
/// recomputes the statistic; the spread of the replicates estimates how much the statistic would move on another
/// draw of the evaluation samples. Several sets resampled with ONE index array each keep their pairing: methods
/// sampled from the same noise and prompts share the generated-set indices, so a difference between them is a
/// paired bootstrap. Index draws come from splitmix64 seeded by (seed, replicate): the same seed gives the same
/// replicates on every machine and .NET version.
/// </summary>
public static class Bootstrap
{
    /// <summary>The statistic on <paramref name="resamples"/> redraws. <paramref name="sizes"/>: the size of each
    /// independently resampled set; the statistic receives one index array per set (indices in [0, size)).</summary>
    public static double[] Replicates(IReadOnlyList<int> sizes, Func<int[][], double> statistic, int resamples, ulong seed)
    {
        if (resamples < 2) throw new ArgumentException($"a bootstrap needs at least 2 resamples, got {resamples}");
        if (sizes.Count == 0 || sizes.Any(n => n < 1)) throw new ArgumentException($"every resampled set needs at least one sample; sizes [{string.Join(", ", sizes)}]");
        var values = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            ulong state = seed * 0x9E3779B97F4A7C15UL + (ulong)r * 0xD1B54A32D192ED03UL;
            var indices = sizes.Select(n =>
            {
                var idx = new int[n];
                for (int i = 0; i < n; i++) idx[i] = (int)((SplitMix64(ref state) >> 32) * (ulong)n >> 32);
                return idx;
            }).ToArray();
            values[r] = statistic(indices);
            if (!double.IsFinite(values[r])) throw new ArithmeticException($"bootstrap replicate {r} is not finite ({values[r]})");
        }
        return values;
    }

    /// <summary>The percentile interval: the (1-c)/2 and (1+c)/2 quantiles of the replicates (linear interpolation
    /// between order statistics).</summary>
    public static (double Lo, double Hi) Percentile(IReadOnlyList<double> replicates, double confidence = 0.95)
    {
        Estimate.CheckConfidence(confidence);
        if (replicates.Count < 2) throw new ArgumentException("a percentile interval needs at least 2 replicates");
        var sorted = replicates.OrderBy(v => v).ToArray();
        return (Quantile(sorted, (1 - confidence) / 2), Quantile(sorted, (1 + confidence) / 2));
    }

    /// <summary>The q-quantile of ascending <paramref name="sorted"/> (the "type 7" rule of R and numpy's default).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        double h = (sorted.Count - 1) * q;
        int lo = (int)Math.Floor(h), hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>Rows <paramref name="idx"/> of <paramref name="x"/> [N, D] (a resampled feature set).</summary>
    public static double[,] Rows(double[,] x, int[] idx)
    {
        int d = x.GetLength(1);
        var r = new double[idx.Length, d];
        for (int i = 0; i < idx.Length; i++)
            Buffer.BlockCopy(x, idx[i] * d * sizeof(double), r, i * d * sizeof(double), d * sizeof(double));
        return r;
    }

    /// <summary>The mean of <paramref name="x"/> at <paramref name="idx"/>.</summary>
    public static double Mean(IReadOnlyList<double> x, int[] idx)
    {
        double s = 0;
        foreach (int i in idx) s += x[i];
        return s / idx.Length;
    }

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
