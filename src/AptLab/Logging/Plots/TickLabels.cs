using System.Globalization;

namespace AptLab.Logging.Plots;

/// <summary>
/// Tick labels in one format per axis: plain decimals ("0.05", "120") unless the axis reaches below 1e-3 or above
/// 1e5 (non-zero), then every label of that axis is scientific ("5e-4", "1e-3"), never a mix of both. Labels are
/// rounded to the axis' resolution so floating noise (0.30000000000000004) never shows.
/// </summary>
public static class TickLabels
{
    /// <summary>Whether an axis spanning the values <paramref name="lo"/>..<paramref name="hi"/> uses scientific labels.</summary>
    public static bool Scientific(double lo, double hi)
    {
        double big = Math.Max(Math.Abs(lo), Math.Abs(hi));
        double small = SmallestMagnitude(lo, hi);
        return big >= 1e5 || (small > 0 && small < 1e-3);
    }

    /// <summary>The label formatter of a linear axis over <paramref name="lo"/>..<paramref name="hi"/>.</summary>
    public static Func<double, string> Linear(double lo, double hi)
    {
        bool sci = Scientific(lo, hi);
        double span = Math.Abs(hi - lo);
        int digits = span > 0 && double.IsFinite(span) ? Math.Clamp(3 - (int)Math.Floor(Math.Log10(span)), 0, 12) : 6;
        return v =>
        {
            double r = Math.Round(v, digits);
            if (Math.Abs(r) < Math.Pow(10, -digits)) return "0";
            return Format(r, sci);
        };
    }

    /// <summary>A value in this axis' format (scientific or plain, up to 4 significant digits).</summary>
    public static string Format(double v, bool scientific)
    {
        if (v == 0) return "0";
        if (scientific)
        {
            var s = v.ToString("0.###e+0", CultureInfo.InvariantCulture);
            return s.Replace("e+", "e");
        }
        double mag = Math.Abs(v);
        int decimals = mag >= 1 ? Math.Max(0, 3 - (int)Math.Floor(Math.Log10(mag))) : Math.Min(12, 3 - (int)Math.Floor(Math.Log10(mag)));
        var text = Math.Round(v, Math.Clamp(decimals, 0, 12)).ToString("0.############", CultureInfo.InvariantCulture);
        return text == "-0" ? "0" : text;
    }

    // The smallest non-zero magnitude an axis over lo..hi shows at its ends (0 when it crosses or touches zero).
    private static double SmallestMagnitude(double lo, double hi) =>
        lo <= 0 && hi >= 0 ? 0 : Math.Min(Math.Abs(lo), Math.Abs(hi));
}
