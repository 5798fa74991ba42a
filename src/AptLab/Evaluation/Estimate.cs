using MathNet.Numerics.Distributions;

namespace AptLab.Evaluation;

/// <summary>
/// A mean over independent replicates (training seeds) with its spread and a two-sided confidence interval
/// [<see cref="Lo"/>, <see cref="Hi"/>] (docs/evaluation.md#seeds-and-intervals). <see cref="Sd"/> is the sample
/// standard deviation of the replicates (1/(N-1)); with one replicate it is 0 and the interval is unknown (NaN).
/// </summary>
public sealed record Estimate(double Mean, double Sd, int N, double Lo, double Hi, double Confidence)
{
    public bool HasInterval => double.IsFinite(Lo) && double.IsFinite(Hi);

    /// <summary>The interval lies entirely above or below zero: the sign of <see cref="Mean"/> is resolved.</summary>
    public bool ExcludesZero => HasInterval && (Lo > 0 || Hi < 0);

    /// <summary>+1 or -1 when the interval excludes zero, else 0 (no resolved difference).</summary>
    public int Sign => ExcludesZero ? Math.Sign(Mean) : 0;

    /// <summary>Half the interval's width (NaN without an interval).</summary>
    public double HalfWidth => (Hi - Lo) / 2;

    /// <summary>The Student-t interval of the mean of <paramref name="values"/>:
    /// mean ± t_{(1+c)/2, N-1} sd / sqrt(N). Exact for normally distributed replicates, and the right choice for the
    /// handful of seeds a study can afford (a bootstrap over 5 seeds is far too narrow).</summary>
    public static Estimate OfMean(IReadOnlyList<double> values, double confidence = 0.95)
    {
        CheckConfidence(confidence);
        if (values.Count == 0) throw new ArgumentException("an estimate needs at least one value");
        if (values.Any(v => !double.IsFinite(v))) throw new ArgumentException($"an estimate needs finite values; got [{string.Join(", ", values)}]");
        int n = values.Count;
        double mean = values.Average();
        if (n == 1) return new Estimate(mean, 0, 1, double.NaN, double.NaN, confidence);
        double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        double half = TQuantile((1 + confidence) / 2, n - 1) * sd / Math.Sqrt(n);
        return new Estimate(mean, sd, n, mean - half, mean + half, confidence);
    }

    /// <summary>The paired difference a - b: the t interval of the per-replicate differences a_i - b_i. Use it when
    /// replicate i of a and of b share something that makes them correlated (a student and the model it was trained
    /// from, the same evaluation noise), which the pairing cancels.</summary>
    public static Estimate OfPairedDifference(IReadOnlyList<double> a, IReadOnlyList<double> b, double confidence = 0.95)
    {
        if (a.Count != b.Count) throw new ArgumentException($"a paired difference needs as many values on both sides; got {a.Count} and {b.Count}");
        return OfMean(a.Zip(b, (x, y) => x - y).ToList(), confidence);
    }

    /// <summary>This estimate with a second, independent source of uncertainty of the same mean added: the
    /// half-widths add in quadrature (variances of independent errors add), e.g. the seeds' interval and the
    /// evaluation set's bootstrap interval. An estimate without an interval takes the other half-width alone.</summary>
    public Estimate Widened(double otherHalfWidth)
    {
        if (!(otherHalfWidth >= 0)) throw new ArgumentException($"a half-width must be >= 0, got {otherHalfWidth}");
        double own = HasInterval ? HalfWidth : 0;
        double half = Math.Sqrt(own * own + otherHalfWidth * otherHalfWidth);
        return this with { Lo = Mean - half, Hi = Mean + half };
    }

    /// <summary>The p-quantile of Student's t distribution with <paramref name="df"/> degrees of freedom.</summary>
    public static double TQuantile(double p, int df)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentException($"a quantile needs 0 < p < 1, got {p}");
        if (df < 1) throw new ArgumentException($"Student's t needs df >= 1, got {df}");
        return StudentT.InvCDF(0, 1, df, p);
    }

    internal static void CheckConfidence(double confidence)
    {
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentException($"a confidence level must be in (0, 1), got {confidence}");
    }
}
