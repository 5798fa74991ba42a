using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

public class FrechetDistanceTests
{
    /// <summary>Rows of x = mu + z L^T with z standard normal (Box-Muller on a seeded System.Random).</summary>
    private static double[,] Sample(int n, double[] mu, double[,] l, int seed)
    {
        int d = mu.Length;
        var rng = new Random(seed);
        var x = new double[n, d];
        var z = new double[d];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
                z[j] = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            for (int j = 0; j < d; j++)
            {
                double v = mu[j];
                for (int k = 0; k < d; k++) v += l[j, k] * z[k];
                x[i, j] = v;
            }
        }
        return x;
    }

    private static double[,] RandomMatrix(int r, int c, int seed)
    {
        var rng = new Random(seed);
        var m = new double[r, c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) m[i, j] = rng.NextDouble() * 2 - 1;
        return m;
    }

    private static double[,] Spd(int d, int seed)                 // A A^T + 0.1 I
    {
        var a = RandomMatrix(d, d, seed);
        var s = new double[d, d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                for (int k = 0; k < d; k++) s[i, j] += a[i, k] * a[j, k];
                if (i == j) s[i, j] += 0.1;
            }
        return s;
    }

    [Fact]
    public void Set_with_itself_is_zero_even_when_rank_deficient()
    {
        var full = RandomMatrix(300, 40, 1);                      // N > D
        Assert.Equal(0, FrechetDistance.Compute(full, full), 9);
        var thin = RandomMatrix(20, 64, 2);                       // N < D: covariance of rank 19
        Assert.Equal(0, FrechetDistance.Compute(thin, thin), 9);
        var constant = new double[10, 5];                         // zero covariance (total mode collapse)
        Assert.Equal(0, FrechetDistance.Compute(constant, constant), 12);
    }

    [Fact]
    public void Symmetric()
    {
        var a = RandomMatrix(100, 30, 3);
        var b = RandomMatrix(80, 30, 4);
        for (int i = 0; i < 80; i++) for (int j = 0; j < 30; j++) b[i, j] = 0.5 * b[i, j] * b[i, j] + 0.1 * j;
        double ab = FrechetDistance.Compute(a, b), ba = FrechetDistance.Compute(b, a);
        Assert.True(ab > 1, $"FD {ab}");
        Assert.Equal(ab, ba, 9);
    }

    [Fact]
    public void Diagonal_gaussians_approach_the_closed_form()
    {
        double[] mu1 = [0, 1, -1, 0.5], mu2 = [0.3, 1, 0, -0.5], s1 = [1, 4, 0.25, 2], s2 = [2, 1, 0.25, 0.5];
        double[,] l1 = new double[4, 4], l2 = new double[4, 4];
        for (int j = 0; j < 4; j++) { l1[j, j] = Math.Sqrt(s1[j]); l2[j, j] = Math.Sqrt(s2[j]); }
        double exact = Enumerable.Range(0, 4).Sum(j => Math.Pow(mu1[j] - mu2[j], 2) + Math.Pow(Math.Sqrt(s1[j]) - Math.Sqrt(s2[j]), 2));
        Assert.Equal(2.09 + (3 - 2 * Math.Sqrt(2)) + 1 + 0 + 0.5, exact, 12);   // |dmu|^2 + (1-sqrt2)^2 + (2-1)^2 + 0 + (sqrt2-sqrt0.5)^2
        double fd = FrechetDistance.Compute(Sample(40000, mu1, l1, 5), Sample(40000, mu2, l2, 6));
        // Sampling error of 40k samples: means ~0.01, variances ~0.7 %; the FD is within 2 % of 3.76.
        Assert.InRange(fd, exact * 0.98, exact * 1.02);
    }

    [Fact]
    public void Exact_statistics_match_closed_forms()
    {
        // 2x2, non-commuting: Tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for M = A^1/2 B A^1/2, tr M = tr(AB), det M = det A det B.
        var rng = new Random(7);
        for (int trial = 0; trial < 20; trial++)
        {
            var a = Spd(2, 100 + trial); var b = Spd(2, 200 + trial);
            double[] ma = [rng.NextDouble(), rng.NextDouble()], mb = [rng.NextDouble(), rng.NextDouble()];
            double trAB = a[0, 0] * b[0, 0] + a[0, 1] * b[1, 0] + a[1, 0] * b[0, 1] + a[1, 1] * b[1, 1];
            double det = (a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) * (b[0, 0] * b[1, 1] - b[0, 1] * b[1, 0]);
            double expected = Math.Pow(ma[0] - mb[0], 2) + Math.Pow(ma[1] - mb[1], 2) + a[0, 0] + a[1, 1] + b[0, 0] + b[1, 1]
                            - 2 * Math.Sqrt(trAB + 2 * Math.Sqrt(det));
            double fd = FrechetDistance.Compute(new GaussianStatistics(ma, a, 100), new GaussianStatistics(mb, b, 100));
            Assert.Equal(expected, fd, 10);
        }
        // 24-d, S_b = 4 S_a (commuting): Tr sqrt(S_a S_b) = 2 Tr S_a, so FD = ||dmu||^2 + Tr S_a.
        var sa = Spd(24, 9);
        var sb = new double[24, 24];
        double trace = 0;
        for (int i = 0; i < 24; i++) { trace += sa[i, i]; for (int j = 0; j < 24; j++) sb[i, j] = 4 * sa[i, j]; }
        var m0 = new double[24]; var m1 = new double[24]; m1[3] = 2;
        Assert.Equal(trace + 4, FrechetDistance.Compute(new GaussianStatistics(m0, sa, 2), new GaussianStatistics(m1, sb, 2)), 9);
    }

    [Fact]
    public void Singular_covariances_need_no_regularisation()
    {
        // Rank-1 covariances u u^T and v v^T: Tr sqrt(S_a S_b) = |u . v|, FD = |u|^2 + |v|^2 - 2 |u . v|.
        double[] u = [1, 2, 0, -1, 0.5], v = [0.5, -1, 3, 0, 1];
        double[,] Outer(double[] p) { var m = new double[5, 5]; for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) m[i, j] = p[i] * p[j]; return m; }
        double dot = u.Zip(v).Sum(t => t.First * t.Second), uu = u.Sum(x => x * x), vv = v.Sum(x => x * x);
        double fd = FrechetDistance.Compute(new GaussianStatistics(new double[5], Outer(u), 2), new GaussianStatistics(new double[5], Outer(v), 2));
        Assert.Equal(uu + vv - 2 * Math.Abs(dot), fd, 9);
    }

    [Fact]
    public void Tensor_overload_agrees_and_statistics_are_unbiased()
    {
        using var scope = torch.NewScope();
        var a = RandomMatrix(50, 6, 10); var b = RandomMatrix(60, 6, 11);
        var ta = torch.tensor(a.Cast<double>().ToArray(), 50, 6); var tb = torch.tensor(b.Cast<double>().ToArray(), 60, 6);
        Assert.Equal(FrechetDistance.Compute(a, b), FrechetDistance.Compute(ta, tb), 12);
        var st = FrechetDistance.Statistics(new double[,] { { 1, 0 }, { 3, 2 }, { 5, 1 } });
        Assert.Equal([3.0, 1.0], st.Mean);
        Assert.Equal(4.0, st.Covariance[0, 0], 12);               // ((-2)^2 + 0 + 2^2) / 2
        Assert.Equal(1.0, st.Covariance[1, 1], 12);
        Assert.Equal(1.0, st.Covariance[0, 1], 12);               // (2 + 0 + 0) / 2
    }

    [Fact]
    public void Bad_input_is_one_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(new double[5, 3], new double[5, 4]));
        Assert.Contains("3 and 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(new double[1, 3], new double[5, 3]));
        Assert.Contains("first set has 1 samples", e.Message);
        var bad = new double[3, 2]; bad[1, 1] = double.NaN;
        e = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(new double[3, 2], bad));
        Assert.Contains("[1, 1]", e.Message);
    }
}
