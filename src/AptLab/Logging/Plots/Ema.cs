namespace AptLab.Logging.Plots;

/// <summary>
/// Exponential moving average of a noisy curve, as TensorBoard's smoothing slider computes it:
/// <c>m_t = w m_(t-1) + (1 - w) x_t</c> from <c>m_0 = 0</c>, divided by the debias factor <c>1 - w^t</c> so the
/// first points are not pulled towards zero. <c>w = 0</c> returns the curve unchanged; <c>w -> 1</c> flattens it.
/// Non-finite values are skipped (the average carries over them and they stay non-finite in the result).
/// </summary>
public static class Ema
{
    public static double[] Smooth(IReadOnlyList<double> values, double weight)
    {
        if (!(weight >= 0 && weight < 1)) throw new ArgumentException($"EMA smoothing weight must be in [0, 1), got {weight}");
        var result = new double[values.Count];
        double m = 0;
        int n = 0;
        for (int i = 0; i < values.Count; i++)
        {
            double x = values[i];
            if (!double.IsFinite(x)) { result[i] = x; continue; }
            n++;
            m = weight * m + (1 - weight) * x;
            result[i] = weight == 0 ? x : m / (1 - Math.Pow(weight, n));
        }
        return result;
    }
}
