using System.Text.Json;
using AptLab.Evaluation;
using MathNet.Numerics.LinearAlgebra;

namespace AptLab.Tests.Evaluation;

/// <summary>
/// The Fréchet distance against float64 closed forms (relative 1e-8) and against pytorch-fid's own formula on
/// statistics files numpy wrote (Fixtures/fid, made by make_fid_fixtures.py with scipy.linalg.sqrtm).
/// </summary>
public class FrechetClosedFormTests
{
    private static double[,] Rotate(double[] diag, Matrix<double> q) =>
        (q * Matrix<double>.Build.DiagonalOfDiagonalArray(diag) * q.Transpose()).ToArray();

    private static Matrix<double> RandomOrthogonal(int d, int seed)
    {
        var rng = new Random(seed);
        var m = Matrix<double>.Build.Dense(d, d, (_, _) => rng.NextDouble() * 2 - 1);
        return m.QR().Q;
    }

    // For commuting covariances Q diag(a) Q^T and Q diag(b) Q^T: FD = |dmu|^2 + sum (sqrt a_i - sqrt b_i)^2.
    private static double ClosedForm(double[] ma, double[] mb, double[] a, double[] b) =>
        ma.Zip(mb).Sum(t => (t.First - t.Second) * (t.First - t.Second))
        + a.Zip(b).Sum(t => Math.Pow(Math.Sqrt(t.First) - Math.Sqrt(t.Second), 2));

    private static void AssertRel(double expected, double got, double tol = 1e-8) =>
        Assert.True(Math.Abs(got - expected) <= tol * Math.Abs(expected), $"expected {expected:R}, got {got:R} (rel {Math.Abs(got - expected) / Math.Abs(expected):E2})");

    [Theory]
    [InlineData(8, 0)]
    [InlineData(64, 1)]
    [InlineData(256, 2)]
    public void Diagonal_commuting_and_rank_deficient_covariances_match_the_closed_form(int d, int seed)
    {
        var rng = new Random(seed);
        double[] ma = Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray(), mb = Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray();
        double[] a = Enumerable.Range(0, d).Select(_ => 0.1 + 3 * rng.NextDouble()).ToArray(), b = Enumerable.Range(0, d).Select(_ => 0.1 + rng.NextDouble()).ToArray();
        // diagonal
        AssertRel(ClosedForm(ma, mb, a, b), FrechetDistance.Compute(new GaussianStatistics(ma, Diag(a), 0), new GaussianStatistics(mb, Diag(b), 0)));
        // commuting, not diagonal
        var q = RandomOrthogonal(d, seed + 10);
        AssertRel(ClosedForm(ma, mb, a, b), FrechetDistance.Compute(new GaussianStatistics(ma, Rotate(a, q), 0), new GaussianStatistics(mb, Rotate(b, q), 0)));
        // rank-deficient (a third of each spectrum is zero, in different places): the zero directions add sqrt(a_i)^2 or sqrt(b_i)^2
        double[] az = a.Select((v, i) => i % 3 == 0 ? 0 : v).ToArray(), bz = b.Select((v, i) => i % 3 == 1 ? 0 : v).ToArray();
        AssertRel(ClosedForm(ma, mb, az, bz), FrechetDistance.Compute(new GaussianStatistics(ma, Rotate(az, q), 0), new GaussianStatistics(mb, Rotate(bz, q), 0)));
        // a set against itself, rank-deficient: exactly zero up to round-off
        Assert.True(FrechetDistance.Compute(new GaussianStatistics(ma, Rotate(az, q), 0), new GaussianStatistics(ma, Rotate(az, q), 0)) < 1e-9 * az.Sum());
    }

    [Fact]
    public void Non_commuting_rank_one_covariances_match_the_closed_form()
    {
        // u u^T and v v^T: Tr sqrt(S_a S_b) = |u . v|.
        var rng = new Random(3);
        int d = 50;
        var u = Enumerable.Range(0, d).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var v = Enumerable.Range(0, d).Select(_ => rng.NextDouble() - 0.3).ToArray();
        double dot = u.Zip(v).Sum(t => t.First * t.Second);
        var zero = new double[d];
        AssertRel(u.Sum(x => x * x) + v.Sum(x => x * x) - 2 * Math.Abs(dot), FrechetDistance.Compute(new GaussianStatistics(zero, Outer(u), 2), new GaussianStatistics(zero, Outer(v), 2)));
    }

    [Fact]
    public void Few_samples_take_the_span_route_and_give_the_full_covariance_answer()
    {
        // Na + Nb < D: Compute(rows) works in the span of the centred rows; Compute(statistics) decomposes D x D matrices.
        var rng = new Random(4);
        double[,] Rows(int n, double scale) { var m = new double[n, 96]; for (int i = 0; i < n; i++) for (int j = 0; j < 96; j++) m[i, j] = scale * (rng.NextDouble() - 0.5) + 0.01 * j; return m; }
        var a = Rows(5, 1); var b = Rows(9, 2);
        double viaStats = FrechetDistance.Compute(FrechetDistance.Statistics(a), FrechetDistance.Statistics(b));
        AssertRel(viaStats, FrechetDistance.Compute(a, b), 1e-10);
    }

    [Fact]
    public void Matches_pytorch_fids_sqrtm_formula_on_numpy_written_statistics()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("fid/expected.json")));
        var fd = doc.RootElement.GetProperty("fd");
        var sets = new Dictionary<string, GaussianStatistics>
        {
            ["full"] = GaussianStatistics.Load(TestPaths.Fixture("fid/full.npz")),
            ["thin"] = GaussianStatistics.Load(TestPaths.Fixture("fid/thin.npz")),
            ["other"] = GaussianStatistics.Load(TestPaths.Fixture("fid/fortran.npz")),
        };
        Assert.Equal(doc.RootElement.GetProperty("dim").GetInt32(), sets["full"].Dim);
        Assert.Equal(0, sets["full"].Count);                                     // pytorch-fid files carry no sample count
        foreach (var pair in fd.EnumerateObject())
        {
            var names = pair.Name.Split('-');
            // scipy's sqrtm of a singular product (the thin set, N < D) is only accurate to ~1e-8 relative itself.
            AssertRel(pair.Value.GetDouble(), FrechetDistance.Compute(sets[names[0]], sets[names[1]]), 1e-7);
        }
    }

    [Fact]
    public void Statistics_files_round_trip_and_fortran_order_is_read_in_c_order()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("fid/expected.json")));
        var other = GaussianStatistics.Load(TestPaths.Fixture("fid/fortran.npz"));
        Assert.Equal(doc.RootElement.GetProperty("other_mu").EnumerateArray().Select(e => e.GetDouble()), other.Mean);
        var probe = Npz.Read(TestPaths.Fixture("fid/fortran.npz"))["probe"];
        Assert.Equal([2L, 3L], probe.Shape);
        Assert.Equal([0.0, 1, 2, 3, 4, 5], probe.Values);

        using var tmp = TestPaths.Temp();
        var path = tmp.File("stats.npz");
        var s = new GaussianStatistics([1.5, -2, 1e-300], new double[,] { { 1, 0.5, 0 }, { 0.5, 2, 0 }, { 0, 0, 3 } }, 77);
        s.Save(path);
        var back = GaussianStatistics.Load(path);
        Assert.Equal(s.Mean, back.Mean);
        Assert.Equal(s.Covariance, back.Covariance);
        Assert.Equal(77, back.Count);
        Assert.True(FrechetDistance.Compute(s, back) < 1e-12);
    }

    [Fact]
    public void Not_a_covariance_is_an_error_and_round_off_negatives_are_taken_as_zero()
    {
        var mu = new double[3];
        var bad = new double[,] { { 1, 0, 0 }, { 0, -0.5, 0 }, { 0, 0, 1 } };
        var e = Assert.Throws<ArithmeticException>(() => FrechetDistance.Compute(new GaussianStatistics(mu, bad, 0), new GaussianStatistics(mu, Diag([1, 1, 1]), 0)));
        Assert.Contains("imaginary component", e.Message);
        var roundOff = new double[,] { { 1, 0, 0 }, { 0, -1e-14, 0 }, { 0, 0, 1 } };
        AssertRel(1, FrechetDistance.Compute(new GaussianStatistics(mu, roundOff, 0), new GaussianStatistics(mu, Diag([1, 1, 1]), 0)));   // (sqrt1 - sqrt1)^2 x2 + (0 - 1)^2
        using var tmp = TestPaths.Temp();
        File.WriteAllText(tmp.File("x.npz"), "not a zip");
        var io = Assert.Throws<InvalidDataException>(() => GaussianStatistics.Load(tmp.File("x.npz")));
        Assert.Contains("x.npz", io.Message);
    }

    private static double[,] Diag(double[] v)
    {
        var m = new double[v.Length, v.Length];
        for (int i = 0; i < v.Length; i++) m[i, i] = v[i];
        return m;
    }

    private static double[,] Outer(double[] p)
    {
        var m = new double[p.Length, p.Length];
        for (int i = 0; i < p.Length; i++) for (int j = 0; j < p.Length; j++) m[i, j] = p[i] * p[j];
        return m;
    }
}
