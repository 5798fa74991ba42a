namespace AptLab.Tests.Engine;

/// <summary>torch.linalg.eigh and svdvals against closed forms: a matrix built from a known orthonormal basis and
/// spectrum must give that spectrum back (ascending / descending), and its eigenvectors must rebuild it.</summary>
public class LinalgTests
{
    // Q R = a random Gaussian matrix; Q is orthonormal (Gram-Schmidt in float64, done here so the test owns its basis).
    private static double[,] RandomOrthonormal(int n, int seed)
    {
        var rng = new Random(seed);
        var q = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            var v = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += v[i] * q[i, k];
                for (int i = 0; i < n; i++) v[i] -= dot * q[i, k];
            }
            double norm = Math.Sqrt(v.Sum(x => x * x));
            for (int i = 0; i < n; i++) q[i, j] = v[i] / norm;
        }
        return q;
    }

    private static Tensor FromSpectrum(double[,] q, double[] lambda)
    {
        int n = lambda.Length;
        var m = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++) m[i * n + j] += q[i, k] * lambda[k] * q[j, k];
        return torch.tensor(m, n, n);
    }

    [Fact]
    public void Eigh_returns_the_spectrum_ascending_and_eigenvectors_that_rebuild_the_matrix()
    {
        double[] lambda = [3.5, -1.25, 0, 7, 0.5];
        var s = FromSpectrum(RandomOrthonormal(lambda.Length, 3), lambda);
        var (values, vectors) = torch.linalg.eigh(s);
        var got = values.data<double>();
        var want = lambda.Order().ToArray();
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 1e-12);
        var rebuilt = (vectors * values.unsqueeze(0)).matmul(vectors.transpose(0, 1));
        Assert.True((rebuilt - s).abs().max().item<double>() < 1e-12);
        var gram = vectors.transpose(0, 1).matmul(vectors) - torch.eye(lambda.Length, dtype: torch.float64);
        Assert.True(gram.abs().max().item<double>() < 1e-12);

        // Only the named triangle is read: garbage in the other one changes nothing.
        var upperGarbage = s.clone();
        upperGarbage.masked_fill_(torch.ones([lambda.Length, lambda.Length], torch.float32).triu(1).to(torch.@bool), 99);
        Assert.Equal(got, torch.linalg.eigh(upperGarbage, "L").eigenvalues.data<double>());
        Assert.Throws<ArgumentException>(() => torch.linalg.eigh(s, "X"));
    }

    [Fact]
    public void Svdvals_are_the_absolute_spectrum_of_a_symmetric_matrix_descending_and_fail_loudly_on_bad_input()
    {
        double[] lambda = [2, -5, 0.25, 1];
        var s = FromSpectrum(RandomOrthonormal(lambda.Length, 9), lambda);
        var got = torch.linalg.svdvals(s).data<double>();
        var want = lambda.Select(Math.Abs).OrderDescending().ToArray();
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 1e-12);
        Assert.Throws<TorchException>(() => torch.linalg.svdvals(torch.zeros([3], torch.float64)));
    }
}
