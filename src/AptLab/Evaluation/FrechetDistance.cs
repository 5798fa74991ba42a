using MathNet.Numerics.LinearAlgebra;

namespace AptLab.Evaluation;

/// <summary>Mean and covariance of a feature set (float64; covariance with the unbiased 1/(N-1) normalisation).</summary>
public sealed record GaussianStatistics(double[] Mean, double[,] Covariance, int Count)
{
    public int Dim => Mean.Length;
}

/// <summary>
/// The Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets, as in FID:
/// <c>||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})</c>, in float64.
/// <para>
/// The trace of the matrix square root is computed without ever forming (S_a S_b)^{1/2}, which is not
/// symmetric and is where scipy.linalg.sqrtm-based code loses accuracy: with A = S_a^{1/2} and B = S_b^{1/2}
/// (symmetric eigen-decompositions, negative round-off eigenvalues clamped to 0),
/// Tr (S_a S_b)^{1/2} = Tr (A S_b A)^{1/2} = sum of the singular values of B A, because (B A)^T (B A) = A S_b A.
/// Singular values of B A are accurate to machine precision times ||B A||, whereas eigenvalues of A S_b A would
/// carry that error squared into the square root. Singular covariances (fewer samples than dimensions, constant
/// features, a mode-collapsed set) need no eps * I: their zero eigenvalues simply contribute nothing.
/// </para>
/// </summary>
public static class FrechetDistance
{
    /// <summary>FD between the rows of <paramref name="a"/> [Na, D] and <paramref name="b"/> [Nb, D].</summary>
    public static double Compute(double[,] a, double[,] b)
    {
        if (a.GetLength(1) != b.GetLength(1))
            throw new ArgumentException($"Fréchet distance needs features of one dimension; got {a.GetLength(1)} and {b.GetLength(1)}");
        return Compute(Statistics(a, "first set"), Statistics(b, "second set"));
    }

    /// <summary>FD between the rows of two feature tensors [Na, D] and [Nb, D] (any float dtype).</summary>
    public static double Compute(Tensor a, Tensor b) => Compute(ToArray(a, "first set"), ToArray(b, "second set"));

    /// <summary>FD between two fitted Gaussians.</summary>
    public static double Compute(GaussianStatistics a, GaussianStatistics b)
    {
        if (a.Dim != b.Dim) throw new ArgumentException($"Fréchet distance needs statistics of one dimension; got {a.Dim} and {b.Dim}");
        double meanTerm = 0;
        for (int i = 0; i < a.Dim; i++) meanTerm += (a.Mean[i] - b.Mean[i]) * (a.Mean[i] - b.Mean[i]);
        var sa = Matrix<double>.Build.DenseOfArray(a.Covariance);
        var sb = Matrix<double>.Build.DenseOfArray(b.Covariance);
        double cross = TraceSqrtProduct(sa, sb);
        double fd = meanTerm + sa.Trace() + sb.Trace() - 2 * cross;
        if (!double.IsFinite(fd)) throw new ArithmeticException("Fréchet distance is not finite (features contain NaN or infinity)");
        return Math.Max(fd, 0);                                   // a tiny negative is round-off; FD >= 0
    }

    /// <summary>Tr (S_a S_b)^{1/2} for symmetric positive semi-definite S_a, S_b (the nuclear norm of S_b^{1/2} S_a^{1/2}).</summary>
    public static double TraceSqrtProduct(Matrix<double> sa, Matrix<double> sb)
    {
        var product = SymmetricSqrt(sb) * SymmetricSqrt(sa);
        return product.Svd(computeVectors: false).S.Sum();
    }

    /// <summary>The PSD square root V diag(sqrt(max(lambda, 0))) V^T of a symmetric matrix.</summary>
    public static Matrix<double> SymmetricSqrt(Matrix<double> s)
    {
        var sym = (s + s.Transpose()) * 0.5;                      // exact symmetry for the symmetric solver
        var evd = sym.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var root = evd.EigenValues.Map(l => Math.Sqrt(Math.Max(l.Real, 0)));
        var v = evd.EigenVectors;
        return v * Matrix<double>.Build.DiagonalOfDiagonalVector(root) * v.Transpose();
    }

    /// <summary>Mean and unbiased covariance of the rows of <paramref name="x"/> [N, D] (N >= 2).</summary>
    public static GaussianStatistics Statistics(double[,] x, string what = "feature set")
    {
        int n = x.GetLength(0), d = x.GetLength(1);
        if (n < 2) throw new ArgumentException($"Fréchet distance: {what} has {n} samples, needs at least 2");
        if (d < 1) throw new ArgumentException($"Fréchet distance: {what} has no feature dimensions");
        var mean = new double[d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                if (!double.IsFinite(x[i, j])) throw new ArgumentException($"Fréchet distance: {what} has a non-finite value at [{i}, {j}]");
                mean[j] += x[i, j];
            }
        for (int j = 0; j < d; j++) mean[j] /= n;
        var centred = Matrix<double>.Build.Dense(n, d, (i, j) => x[i, j] - mean[j]);
        var cov = centred.TransposeThisAndMultiply(centred) / (n - 1);
        return new GaussianStatistics(mean, cov.ToArray(), n);
    }

    /// <summary>Mean and covariance of a feature tensor [N, D].</summary>
    public static GaussianStatistics Statistics(Tensor x, string what = "feature set") => Statistics(ToArray(x, what), what);

    /// <summary>A [N, D] tensor as a float64 array.</summary>
    public static double[,] ToArray(Tensor x, string what = "feature set")
    {
        if (x.dim() != 2) throw new ArgumentException($"Fréchet distance: {what} must be [N, D]; got [{string.Join(", ", x.shape)}]");
        int n = (int)x.shape[0], d = (int)x.shape[1];
        using var dbl = x.to(Device.CPU, ScalarType.Float64);
        var flat = dbl.data<double>();
        var result = new double[n, d];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }
}
