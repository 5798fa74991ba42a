using System.Globalization;
using System.Text;

namespace AptLab.Evaluation;

/// <summary>A row of the table that is not a method: a reference set scored like the methods (e.g. a second draw of
/// the real data: the FD noise floor; the real data through the VAE: what a latent generator can reach).</summary>
public sealed record ReferenceRow(string Name, double FrechetDistance, double Sharpness);

/// <summary>
/// The text of a <see cref="SeedComparison"/>: the Markdown table (mean ± sd over seeds, the 95 % interval with the
/// evaluation's bootstrap, per method), and the verdict, which states a difference only where its interval excludes
/// zero (docs/evaluation.md#seeds-and-intervals).
/// </summary>
public static class SeedReport
{
    /// <summary>The table: one row per method, then the reference rows.</summary>
    public static string Table(SeedComparison c, IReadOnlyList<ReferenceRow> references)
    {
        int pct = (int)Math.Round(c.Options.Confidence * 100);
        var sb = new StringBuilder();
        sb.Append($"| method | NFE | seeds | FD (mean ± sd) | FD {pct} % CI | sharpness (mean ± sd) | sharpness {pct} % CI |\n");
        sb.Append("|:--|--:|--:|--:|--:|--:|--:|\n");
        foreach (var m in c.Methods)
            sb.Append($"| {m.Method} | {m.Nfe} | {m.Seeds.Count} | {MeanSd(m.FrechetDistance)} | {Ci(m.FrechetDistance)} | " +
                      $"{MeanSd(m.Sharpness)} | {Ci(m.Sharpness)} |\n");
        foreach (var r in references)
            sb.Append($"| *{r.Name}* | | | {ComparisonTable.Sig(r.FrechetDistance)} | | {ComparisonTable.Sig(r.Sharpness)} | |\n");
        return sb.ToString();
    }

    /// <summary>One line per difference, e.g. "FD: APT 1 step − CD 1 step = −1.23 [−1.9, −0.55] over 5 paired seeds:
    /// lower (closer to the real data)".</summary>
    public static string Line(Difference d)
    {
        var v = d.Value;
        string what = d.Metric switch
        {
            DifferenceMetric.FrechetDistance => "FD",
            DifferenceMetric.Sharpness => "sharpness",
            _ => "|sharpness − reference|",
        };
        string sign = v.Sign switch
        {
            0 => "no resolved difference (the interval includes 0)",
            < 0 => d.Metric switch
            {
                DifferenceMetric.FrechetDistance => "lower: closer to the real data",
                DifferenceMetric.Sharpness => "lower: blurrier",
                _ => "smaller: closer to the reference's detail",
            },
            > 0 => d.Metric switch
            {
                DifferenceMetric.FrechetDistance => "higher: further from the real data",
                DifferenceMetric.Sharpness => "higher: sharper",
                _ => "larger: further from the reference's detail",
            },
        };
        string pairing = d.PairedBySeed ? $"{v.N} paired seeds" : $"{v.N} seeds";
        return $"{what}: {d.Method} − {d.Baseline} = {Signed(v.Mean)} [{Signed(v.Lo)}, {Signed(v.Hi)}] ({pairing}): {sign}";
    }

    /// <summary>Whether <paramref name="method"/> shows what APT is for against <paramref name="baseline"/>: sharper
    /// and closer to the reference's detail, both resolved, without a resolved FD loss. Null without a reference.</summary>
    public static bool? SharperWithoutWorseFd(SeedComparison c, string method, string baseline)
    {
        if (c.SharpnessReference is null) return null;
        var fd = c.Compare(method, baseline, DifferenceMetric.FrechetDistance).Value;
        var sharp = c.Compare(method, baseline, DifferenceMetric.Sharpness).Value;
        var gap = c.Compare(method, baseline, DifferenceMetric.SharpnessGap).Value;
        return sharp.Sign > 0 && gap.Sign < 0 && fd.Sign <= 0;
    }

    /// <summary>"mean ± sd" (4 significant digits; the sd is omitted for one seed).</summary>
    public static string MeanSd(Estimate e) =>
        e.N > 1 ? $"{ComparisonTable.Sig(e.Mean)} ± {ComparisonTable.Sig(e.Sd)}" : ComparisonTable.Sig(e.Mean);

    /// <summary>"[lo, hi]" or "–" without an interval.</summary>
    public static string Ci(Estimate e) => e.HasInterval ? $"[{ComparisonTable.Sig(e.Lo)}, {ComparisonTable.Sig(e.Hi)}]" : "–";

    private static string Signed(double v) =>
        (v > 0 ? "+" : v < 0 ? "−" : "") + ComparisonTable.Sig(Math.Abs(v)).ToString(CultureInfo.InvariantCulture);
}
