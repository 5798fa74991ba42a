using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

/// <summary>The aggregation of a study over training seeds (SeedComparison, SeedReport) on synthetic scores whose
/// answers are known: identical methods, exact shifts, known standard errors.</summary>
public class SeedComparisonTests
{
    private const int N = 200, D = 3;

    private static double[] Gauss(Random rng, int n, double mean, double sd) =>
        Enumerable.Range(0, n).Select(_ => mean + sd * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();

    private static double[,] Features(Random rng, double mean, double sd = 1)
    {
        var f = new double[N, D];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++) f[i, j] = Gauss(rng, 1, mean, sd)[0];
        return f;
    }

    private static SeedSamples Samples(string method, ulong seed, double[,] features, double[] sharpness) => new(method, 1, 1, seed, features, sharpness);

    [Fact]
    public void A_method_aggregates_its_per_seed_scores_and_widens_the_seed_interval_by_the_evaluation_bootstrap()
    {
        var rng = new Random(1);
        var real = Features(rng, 0);
        var samples = new ulong[] { 0, 1, 2, 3 }.Select(s => Samples("m", s, Features(rng, 0.2 * s), Gauss(rng, N, 1 + 0.01 * s, 0.1))).ToList();
        var c = new SeedComparison(samples, real, options: new SeedComparisonOptions(Resamples: 50));
        var m = c["m"];
        var direct = samples.Select(s => FrechetDistance.Compute(s.Features, real)).ToList();
        Assert.Equal(direct, m.SeedFrechetDistances);
        Assert.Equal(direct.Average(), m.FrechetDistance.Mean, 12);
        Assert.Equal(samples.Average(s => s.Sharpness.Average()), m.Sharpness.Mean, 12);
        Assert.Equal([0UL, 1, 2, 3], m.Seeds);
        var seedsOnly = Estimate.OfMean(direct);
        Assert.Equal(seedsOnly.Sd, m.FrechetDistance.Sd, 12);
        Assert.True(m.FrechetDistance.HalfWidth > seedsOnly.HalfWidth);                 // the evaluation's part is added
        Assert.Throws<KeyNotFoundException>(() => c["other"]);
    }

    [Fact]
    public void The_evaluation_interval_of_one_seed_is_the_standard_error_of_the_samples()
    {
        // one seed (a teacher): the interval is the bootstrap's alone, 1.96 sd / sqrt(N) for a mean
        var rng = new Random(2);
        var c = new SeedComparison([Samples("teacher", 0, Features(rng, 0), Gauss(rng, N, 0.5, 0.2))], Features(rng, 0),
            options: new SeedComparisonOptions(Resamples: 400));
        double expected = 1.959964 * 0.2 / Math.Sqrt(N);
        Assert.InRange(c["teacher"].Sharpness.HalfWidth, expected * 0.88, expected * 1.12);
        Assert.True(c["teacher"].FrechetDistance.HasInterval);
    }

    [Fact]
    public void Identical_methods_differ_by_exactly_nothing()
    {
        var rng = new Random(3);
        var real = Features(rng, 0);
        var samples = new List<SeedSamples>();
        foreach (ulong s in new ulong[] { 0, 1, 2 })
        {
            var (f, sh) = (Features(rng, 0.3), Gauss(rng, N, 1, 0.1));
            samples.Add(Samples("a", s, f, sh));
            samples.Add(Samples("b", s, f, sh));
        }
        var c = new SeedComparison(samples, real, options: new SeedComparisonOptions(Resamples: 20));
        foreach (var metric in new[] { DifferenceMetric.FrechetDistance, DifferenceMetric.Sharpness })
        {
            var d = c.Compare("a", "b", metric);
            Assert.True(d.PairedBySeed);
            Assert.Equal((0.0, 0.0, 0.0), (d.Value.Mean, d.Value.Lo, d.Value.Hi));
            Assert.Equal(0, d.Value.Sign);
            Assert.Contains("no resolved difference", SeedReport.Line(d));
        }
    }

    [Fact]
    public void A_shift_shared_by_every_sample_is_resolved_exactly_because_seeds_and_bootstrap_are_paired()
    {
        // b = a + 0.02 sharpness on every sample of every seed; the seeds differ a lot (0.5 apart). An unpaired seed
        // interval (±0.7) or an unpaired bootstrap (±0.03) would not resolve 0.02.
        var rng = new Random(4);
        var real = Features(rng, 0);
        var samples = new List<SeedSamples>();
        foreach (ulong s in new ulong[] { 0, 1, 2, 3, 4 })
        {
            var f = Features(rng, 0.1);
            var sh = Gauss(rng, N, 1 + 0.5 * (s % 2), 0.2);
            samples.Add(Samples("cd", s, f, sh));
            samples.Add(Samples("apt", s, f, sh.Select(v => v + 0.02).ToArray()));
        }
        var c = new SeedComparison(samples, real, options: new SeedComparisonOptions(Resamples: 30));
        var d = c.Compare("apt", "cd", DifferenceMetric.Sharpness);
        Assert.Equal(0.02, d.Value.Mean, 9);
        Assert.True(d.Value.HalfWidth < 1e-9, $"half-width {d.Value.HalfWidth}");
        Assert.Equal(1, d.Value.Sign);
        Assert.EndsWith("higher: sharper", SeedReport.Line(d));
        Assert.Contains("5 paired seeds", SeedReport.Line(d));
        Assert.True(c["apt"].Sharpness.HalfWidth > 0.3);                                   // while each method alone is vague
    }

    [Fact]
    public void The_sharpness_gap_measures_closeness_to_the_reference_from_both_sides()
    {
        var rng = new Random(5);
        var real = Features(rng, 0);
        var reference = Gauss(rng, N, 1.0, 0.01);
        var samples = new List<SeedSamples>();
        foreach (ulong s in new ulong[] { 0, 1, 2 })
        {
            var f = Features(rng, 0);
            samples.Add(Samples("near", s, f, Gauss(rng, N, 0.9, 0.01)));     // 0.1 below the reference
            samples.Add(Samples("far", s, f, Gauss(rng, N, 1.3, 0.01)));      // 0.3 above
        }
        var c = new SeedComparison(samples, real, reference, new SeedComparisonOptions(Resamples: 50));
        Assert.Equal(1.0, c.ReferenceSharpness, 2);
        var gap = c.Compare("near", "far", DifferenceMetric.SharpnessGap);
        Assert.InRange(gap.Value.Mean, -0.21, -0.19);
        Assert.Equal(-1, gap.Value.Sign);
        Assert.EndsWith("closer to the reference's detail", SeedReport.Line(gap));
        Assert.Equal(-1, c.Compare("near", "far", DifferenceMetric.Sharpness).Value.Sign);  // "near" is blurrier, yet closer
        Assert.False(SeedReport.SharperWithoutWorseFd(c, "near", "far"));                   // so it does not show sharpening
        Assert.Null(SeedReport.SharperWithoutWorseFd(new SeedComparison(samples, real, options: new(Resamples: 2)), "near", "far"));
    }

    [Fact]
    public void A_one_seed_baseline_is_compared_with_every_seed_of_the_method()
    {
        var rng = new Random(6);
        var real = Features(rng, 0);
        var samples = new List<SeedSamples> { Samples("teacher", 0, Features(rng, 1.0), Gauss(rng, N, 1, 0.1)) };
        foreach (ulong s in new ulong[] { 0, 1, 2 }) samples.Add(Samples("student", s, Features(rng, 0.0), Gauss(rng, N, 1, 0.1)));
        var c = new SeedComparison(samples, real, options: new SeedComparisonOptions(Resamples: 50));
        var d = c.Compare("student", "teacher", DifferenceMetric.FrechetDistance);
        Assert.False(d.PairedBySeed);
        Assert.Equal(3, d.Value.N);
        Assert.Equal(c["student"].FrechetDistance.Mean - c["teacher"].FrechetDistance.Mean, d.Value.Mean, 12);
        Assert.Equal(-1, d.Value.Sign);                                   // mean 0 vs mean 1 in 3 dims: FD ~3 apart
        Assert.Contains("lower: closer to the real data", SeedReport.Line(d));
        Assert.Contains("3 seeds", SeedReport.Line(d));
        var table = SeedReport.Table(c, [new ReferenceRow("real (second draw)", 0.05, 1.0)]);
        Assert.Contains("| student | 1 | 3 |", table);
        Assert.Contains("| *real (second draw)* | | | 0.05 |", table);
    }

    [Fact]
    public void Inconsistent_inputs_are_one_clear_error()
    {
        var rng = new Random(7);
        var real = Features(rng, 0);
        var ok = Samples("a", 0, Features(rng, 0), Gauss(rng, N, 1, 0.1));
        var e = Assert.Throws<ArgumentException>(() => new SeedComparison([ok, Samples("b", 0, Features(rng, 0), new double[N - 1])], real));
        Assert.Contains("b (seed 0)", e.Message);
        e = Assert.Throws<ArgumentException>(() => new SeedComparison([ok, ok with { }], real));
        Assert.Contains("a: a seed appears twice", e.Message);
        Assert.Throws<ArgumentException>(() => new SeedComparison([ok], real, options: new SeedComparisonOptions(Resamples: 1)));
        Assert.Throws<InvalidOperationException>(() => new SeedComparison([ok], real, options: new(Resamples: 2)).Compare("a", "a", DifferenceMetric.SharpnessGap));
    }
}
