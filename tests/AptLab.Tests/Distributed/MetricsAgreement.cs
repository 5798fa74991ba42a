using AptLab.Logging;

namespace AptLab.Tests.Distributed;

/// <summary>Two runs' metrics.csv series compared step by step (data-parallel vs one-process runs).</summary>
internal static class MetricsAgreement
{
    /// <summary>Every value of <paramref name="tags"/> in <paramref name="actual"/> within <paramref name="relative"/>
    /// of <paramref name="expected"/> (relative to max(|expected|, 1e-3)), at the same steps.</summary>
    public static void Assert(MetricsTable actual, MetricsTable expected, IEnumerable<string> tags, double relative = 1e-3)
    {
        foreach (var tag in tags)
        {
            var (x, y) = (actual.Series(tag), expected.Series(tag));
            Xunit.Assert.Equal(y.Steps, x.Steps);
            for (int i = 0; i < y.Values.Length; i++)
                Xunit.Assert.True(Math.Abs(x.Values[i] - y.Values[i]) <= relative * Math.Max(Math.Abs(y.Values[i]), 1e-3),
                    $"{tag} at step {y.Steps[i]}: 2 ranks {x.Values[i]}, 1 process {y.Values[i]}");
        }
    }
}
