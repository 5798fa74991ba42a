using System.Globalization;

namespace AptLab.Logging;

/// <summary>An axis: its shown range and the tick positions with their labels.</summary>
public sealed record AxisTicks(double Min, double Max, double[] Values, string[] Labels, bool Log);

/// <summary>"Nice" axis ticks: steps of 1, 2 or 5 x 10^k on linear axes, decades (and 2, 5 within them) on log axes.</summary>
public static class PlotTicks
{
    /// <summary>The 1, 2, 5 or 10 x 10^k step nearest <paramref name="rough"/> (thresholds 1.5, 3, 7 on the mantissa).</summary>
    public static double NiceStep(double rough)
    {
        if (!(rough > 0) || !double.IsFinite(rough)) throw new ArgumentException($"tick step must be positive and finite, got {rough}");
        double mag = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double m = rough / mag;
        return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * mag;
    }

    /// <summary>
    /// Linear ticks for data in [lo, hi]. The shown range is the data range widened by <paramref name="padLo"/>
    /// and <paramref name="padHi"/> (fractions of the span) with ticks inside it; or, when both pads are 0,
    /// widened to whole steps so the axis starts and ends on a tick. About <paramref name="target"/> ticks.
    /// </summary>
    public static AxisTicks Linear(double lo, double hi, int target = 6, double padLo = 0, double padHi = 0)
    {
        if (!double.IsFinite(lo) || !double.IsFinite(hi)) { lo = 0; hi = 1; }
        if (lo > hi) (lo, hi) = (hi, lo);
        if (lo == hi) { double pad = lo == 0 ? 1 : Math.Abs(lo) * 0.1; lo -= pad; hi += pad; }
        double span = hi - lo;
        lo -= padLo * span; hi += padHi * span;
        double step = NiceStep((hi - lo) / Math.Max(1, target - 1));
        bool snap = padLo == 0 && padHi == 0;
        long first = snap ? (long)Math.Floor(lo / step + 1e-9) : (long)Math.Ceiling(lo / step - 1e-9);
        long last = snap ? (long)Math.Ceiling(hi / step - 1e-9) : (long)Math.Floor(hi / step + 1e-9);
        var values = new double[last - first + 1];
        for (long k = first; k <= last; k++) values[k - first] = Clean(k * step, step);
        bool sci = values.Max(Math.Abs) >= 1e6 || step < 1e-3;
        var labels = values.Select(v => Format(v, step, sci)).ToArray();
        return snap ? new AxisTicks(values[0], values[^1], values, labels, false) : new AxisTicks(lo, hi, values, labels, false);
    }

    /// <summary>Log ticks covering [lo, hi] (both &gt; 0), the range widened to whole decades.</summary>
    public static AxisTicks Log10(double lo, double hi)
    {
        if (!(lo > 0) || !(hi > 0)) throw new ArgumentException($"a log axis needs positive values, got range [{lo}, {hi}]");
        int d0 = (int)Math.Floor(Math.Log10(lo) + 1e-9), d1 = (int)Math.Ceiling(Math.Log10(hi) - 1e-9);
        if (d1 == d0) d1++;
        int span = d1 - d0, every = Math.Max(1, (int)Math.Ceiling(span / 8.0));
        var values = new List<double>();
        for (int d = d0; d <= d1; d++)
        {
            if ((d - d0) % every != 0 && d != d1) continue;
            values.Add(Math.Pow(10, d));
            if (span <= 2 && d < d1) { values.Add(2 * Math.Pow(10, d)); values.Add(5 * Math.Pow(10, d)); }
        }
        var arr = values.Select(v => double.Parse(v.ToString("G15", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)).ToArray();
        return new AxisTicks(Math.Pow(10, d0), Math.Pow(10, d1), arr, arr.Select(v => Format(v, v, scientific: v < 1e-3 || v >= 1e6)).ToArray(), true);
    }

    /// <summary>A tick label: decimals sized to the step, or 2E-5 style (scientific) for tiny or huge axes.</summary>
    public static string Format(double v, double step, bool scientific = false)
    {
        if (v == 0) return "0";
        if (scientific) return v.ToString("0.##E+0", CultureInfo.InvariantCulture).Replace("E+", "E");
        int decimals = Math.Max(0, (int)-Math.Floor(Math.Log10(step) + 1e-9));
        return v.ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    // Removes floating noise such as 0.30000000000000004 from k * step.
    private static double Clean(double v, double step) => Math.Abs(v) < step * 1e-9 ? 0 : Math.Round(v, Math.Clamp(12 - (int)Math.Floor(Math.Log10(Math.Abs(v))), 0, 15));
}
