using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

/// <summary>The seed statistics of a study (Estimate, Bootstrap) against closed forms and known distributions.</summary>
public class SeedStatisticsTests
{
    private static double[] Normal(Random rng, int n, double mean, double sd) =>
        Enumerable.Range(0, n).Select(_ => mean + sd * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();

    [Theory]
    [InlineData(0.975)]
    [InlineData(0.9)]
    [InlineData(0.6)]
    [InlineData(0.01)]
    public void T_quantiles_match_the_closed_forms_of_one_and_two_degrees_of_freedom(double p)
    {
        // df 1 is the Cauchy distribution; df 2 has F^-1(p) = (2p - 1) / sqrt(2 p (1 - p)).
        Assert.Equal(Math.Tan(Math.PI * (p - 0.5)), Estimate.TQuantile(p, 1), 9);
        Assert.Equal((2 * p - 1) / Math.Sqrt(2 * p * (1 - p)), Estimate.TQuantile(p, 2), 9);
    }

    [Fact]
    public void T_quantiles_match_the_table_and_tend_to_the_normal()
    {
        Assert.Equal(2.7764451052, Estimate.TQuantile(0.975, 4), 9);     // the 95 % interval of 5 seeds
        Assert.Equal(2.2621571628, Estimate.TQuantile(0.975, 9), 9);
        Assert.Equal(1.959963985, Estimate.TQuantile(0.975, 1_000_000), 4);
        Assert.Throws<ArgumentException>(() => Estimate.TQuantile(1, 3));
        Assert.Throws<ArgumentException>(() => Estimate.TQuantile(0.5, 0));
    }

    [Fact]
    public void The_interval_of_a_mean_is_the_student_t_interval_with_the_sample_sd()
    {
        // 1..5: mean 3, sd sqrt(2.5) (1/(N-1)), half-width t_{0.975,4} sd / sqrt(5) = 1.963243
        var e = Estimate.OfMean([1, 2, 3, 4, 5]);
        Assert.Equal(3, e.Mean, 12);
        Assert.Equal(Math.Sqrt(2.5), e.Sd, 12);
        Assert.Equal(1.963243, e.HalfWidth, 5);
        Assert.Equal(3 - 1.963243, e.Lo, 5);
        Assert.True(e.ExcludesZero);
        Assert.Equal(1, e.Sign);

        var one = Estimate.OfMean([0.7]);
        Assert.False(one.HasInterval);
        Assert.Equal(0, one.Sign);                       // one seed resolves nothing
        Assert.Equal(0, Estimate.OfMean([-1, 1, -2, 2]).Sign);
        Assert.Throws<ArgumentException>(() => Estimate.OfMean([1, double.NaN]));
    }

    [Fact]
    public void Intervals_of_five_normal_seeds_cover_the_true_mean_95_percent_of_the_time()
    {
        // A z interval (1.96 instead of t_4 = 2.78) would cover about 88 %, the population sd even less.
        var rng = new Random(11);
        int covered = 0, trials = 4000;
        for (int i = 0; i < trials; i++)
        {
            var e = Estimate.OfMean(Normal(rng, 5, 2.0, 3.0));
            if (e.Lo <= 2.0 && 2.0 <= e.Hi) covered++;
        }
        double rate = covered / (double)trials;
        Assert.InRange(rate, 0.94, 0.96);
    }

    [Fact]
    public void Pairing_resolves_a_shift_that_the_seed_to_seed_spread_hides()
    {
        // Each seed has a large common effect (e.g. how good its CD student came out); b = a - 0.3 + small noise.
        var rng = new Random(5);
        var common = Normal(rng, 5, 10, 2);
        var a = common.Select(v => v + 0.01 * rng.NextDouble()).ToArray();
        var b = common.Select(v => v - 0.3 + 0.01 * rng.NextDouble()).ToArray();
        var paired = Estimate.OfPairedDifference(a, b);
        Assert.Equal(1, paired.Sign);
        Assert.InRange(paired.Mean, 0.29, 0.31);
        // the unpaired view: each mean's interval is ±2.5, they overlap completely
        var (ea, eb) = (Estimate.OfMean(a), Estimate.OfMean(b));
        Assert.True(ea.Lo < eb.Hi && eb.Lo < ea.Hi);
        Assert.Throws<ArgumentException>(() => Estimate.OfPairedDifference([1, 2], [1]));
    }

    [Fact]
    public void Independent_half_widths_add_in_quadrature()
    {
        var e = Estimate.OfMean([1, 2, 3, 4, 5]);
        var w = e.Widened(1.0);
        Assert.Equal(Math.Sqrt(1.963243 * 1.963243 + 1), w.HalfWidth, 5);
        Assert.Equal(e.Mean, w.Mean);
        var single = Estimate.OfMean([4.0]).Widened(0.5);               // one seed: the evaluation's part alone
        Assert.Equal((3.5, 4.5), (single.Lo, single.Hi));
    }

    [Fact]
    public void Bootstrap_replicates_are_reproducible_and_index_every_set_uniformly()
    {
        int[]? first = null;
        var counts = new int[10];
        var r1 = Bootstrap.Replicates([10, 3], idx =>
        {
            first ??= idx[0];
            foreach (var i in idx[0]) counts[i]++;
            Assert.All(idx[1], i => Assert.InRange(i, 0, 2));
            return idx[0].Sum();
        }, 5000, seed: 7);
        Assert.Equal(r1, Bootstrap.Replicates([10, 3], idx => idx[0].Sum(), 5000, seed: 7));
        Assert.NotEqual(r1, Bootstrap.Replicates([10, 3], idx => idx[0].Sum(), 5000, seed: 8));
        Assert.All(counts, c => Assert.InRange(c, 5000 * 0.95, 5000 * 1.05));   // 50000 draws over 10 indices
    }

    [Fact]
    public void The_bootstrap_standard_error_of_a_mean_is_the_plug_in_one()
    {
        // 400 values, half 0 and half 1: the bootstrap mean is Binomial(400, 1/2) / 400, sd 0.5 / sqrt(400) = 0.025.
        var x = Enumerable.Range(0, 400).Select(i => (double)(i % 2)).ToArray();
        var reps = Bootstrap.Replicates([400], idx => Bootstrap.Mean(x, idx[0]), 4000, seed: 1);
        double m = reps.Average(), sd = Math.Sqrt(reps.Sum(v => (v - m) * (v - m)) / (reps.Length - 1));
        Assert.InRange(m, 0.5 - 0.002, 0.5 + 0.002);
        Assert.InRange(sd, 0.025 * 0.95, 0.025 * 1.05);
        var (lo, hi) = Bootstrap.Percentile(reps);
        Assert.InRange(lo, 0.5 - 1.96 * 0.025 * 1.1, 0.5 - 1.96 * 0.025 * 0.9);
        Assert.InRange(hi, 0.5 + 1.96 * 0.025 * 0.9, 0.5 + 1.96 * 0.025 * 1.1);
    }

    [Fact]
    public void Percentiles_interpolate_between_order_statistics_like_numpy()
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.Equal(3.25, Bootstrap.Quantile(sorted, 0.25), 12);        // numpy.quantile(range(1, 11), 0.25)
        Assert.Equal(9.775, Bootstrap.Quantile(sorted, 0.975), 12);
        Assert.Equal((1.225, 9.775), Bootstrap.Percentile(sorted.Reverse().ToArray()));
    }

    [Fact]
    public void Resampled_rows_are_copies_of_the_named_rows()
    {
        var x = new double[,] { { 1, 2 }, { 3, 4 }, { 5, 6 } };
        Assert.Equal(new double[,] { { 5, 6 }, { 1, 2 }, { 5, 6 } }, Bootstrap.Rows(x, [2, 0, 2]));
    }
}
