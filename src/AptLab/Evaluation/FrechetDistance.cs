namespace AptLab.Evaluation;

/// <summary>
/// The Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets, as in FID and FVD:
/// <c>||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})</c>, in float64 (docs/evaluation.md, "Fréchet distance").
/// <para>
/// Tr (S_a S_b)^{1/2} is the trace of pytorch-fid's <c>scipy.linalg.sqrtm(sigma1 @ sigma2)</c> (its real part), computed
/// by eigen-decomposition (LAPACK through libtorch, float64) instead of a Schur form: with A = S_a^{1/2} and B = S_b^{1/2} (symmetric eigen-decompositions),
/// (S_a S_b)^{1/2} is similar to (A S_b A)^{1/2}, whose trace is the sum of the singular values of B A. For symmetric
/// positive semi-definite inputs this is the same number, but exact where sqrtm is not: singular covariances (N &lt; D,
/// constant features, a collapsed set) need no eps·I, their zero eigenvalues just contribute nothing.
/// </para>
/// <para>
/// pytorch-fid's safeguards carry over: an eigenvalue of a covariance below zero would make sqrtm complex; round-off
/// ones (an imaginary part sqrt(|lambda| · max lambda_other) up to 1e-3, pytorch-fid's tolerance) are taken as zero, as
/// taking the real part does, and larger ones are an error ("not a covariance"). If the decomposition fails to
/// converge, eps·I (1e-6) is added to both covariances and it is retried once, with a warning, as pytorch-fid does.
/// </para>
/// </summary>
public static class FrechetDistance
{
    /// <summary>FD between the rows of <paramref name="a"/> [Na, D] and <paramref name="b"/> [Nb, D].</summary>
    public static double Compute(double[,] a, double[,] b)
    {
        if (a.GetLength(1) != b.GetLength(1))
            throw new ArgumentException($"Fréchet distance needs features of one dimension; got {a.GetLength(1)} and {b.GetLength(1)}");
        int na = a.GetLength(0), nb = b.GetLength(0), d = a.GetLength(1);
        if (na + nb >= d) return Compute(Statistics(a, "first set"), Statistics(b, "second set"));
        // Few samples: with the scaled centred rows A = (X_a - mu_a) / sqrt(Na - 1) [Na, D] (so S_a = A^T A) and B alike,
        // Tr S_a = ||A||_F^2 and Tr (S_a S_b)^{1/2} = ||A B^T||_* (the nonzero eigenvalues of S_a S_b are those of
        // (A B^T)(A B^T)^T): the same number from an Na x Nb SVD instead of D x D decompositions.
        using var scope = torch.NewScope();
        var (ma, ca) = ScaledCentred(a, "first set");                         // [D], [Na, D]
        var (mb, cb) = ScaledCentred(b, "second set");
        double meanTerm = (ma - mb).pow(2).sum().item<double>();
        double cross = torch.linalg.svdvals(ca.matmul(cb.transpose(0, 1))).sum().item<double>();
        double fd = meanTerm + ca.pow(2).sum().item<double>() + cb.pow(2).sum().item<double>() - 2 * cross;
        if (!double.IsFinite(fd)) throw new ArithmeticException("Fréchet distance is not finite");
        return Math.Max(fd, 0);
    }

    /// <summary>FD between the rows of two feature tensors [Na, D] and [Nb, D] (any float dtype).</summary>
    public static double Compute(Tensor a, Tensor b) => Compute(ToArray(a, "first set"), ToArray(b, "second set"));

    /// <summary>FD between two fitted Gaussians.</summary>
    public static double Compute(GaussianStatistics a, GaussianStatistics b)
    {
        if (a.Dim != b.Dim) throw new ArgumentException($"Fréchet distance needs statistics of one dimension; got {a.Dim} and {b.Dim}");
        CheckFinite(a, "first statistics");
        CheckFinite(b, "second statistics");
        using var scope = torch.NewScope();
        double meanTerm = 0;
        for (int i = 0; i < a.Dim; i++) meanTerm += (a.Mean[i] - b.Mean[i]) * (a.Mean[i] - b.Mean[i]);
        var sa = Symmetric(a.Covariance);                                      // [D, D] float64
        var sb = Symmetric(b.Covariance);
        double cross;
        try { cross = TraceSqrtProduct(sa, sb); }
        catch (TorchException e) when (e.Message.Contains("converge", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"warning: Fréchet distance: the matrix square root did not converge; adding {OffsetEps} to the covariance diagonals");
            var offset = torch.eye(a.Dim, dtype: torch.float64) * OffsetEps;
            cross = TraceSqrtProduct(sa + offset, sb + offset);
        }
        double fd = meanTerm + Trace(a.Covariance) + Trace(b.Covariance) - 2 * cross;
        if (!double.IsFinite(fd)) throw new ArithmeticException("Fréchet distance is not finite");
        return Math.Max(fd, 0);                                   // a tiny negative is round-off; FD >= 0
    }

    /// <summary>pytorch-fid's diagonal offset for a square root that fails.</summary>
    public const double OffsetEps = 1e-6;

    /// <summary>pytorch-fid's tolerance on the imaginary part of the square root.</summary>
    public const double ImaginaryTolerance = 1e-3;

    /// <summary>Tr (S_a S_b)^{1/2} for symmetric positive semi-definite S_a, S_b [D, D] float64 (the nuclear norm of
    /// S_b^{1/2} S_a^{1/2}); LAPACK through libtorch.</summary>
    public static double TraceSqrtProduct(Tensor sa, Tensor sb)
    {
        using var scope = torch.NewScope();
        var (ra, ea) = SymmetricSqrt(sa);
        var (rb, eb) = SymmetricSqrt(sb);
        double minA = ea.min().item<double>(), maxA = ea.max().item<double>(), minB = eb.min().item<double>(), maxB = eb.max().item<double>();
        // A negative eigenvalue -d of one covariance gives sqrtm an imaginary part of about sqrt(d * max eig of the other).
        double imag = Math.Max(Math.Sqrt(Math.Max(-minA, 0) * Math.Max(maxB, 0)), Math.Sqrt(Math.Max(-minB, 0) * Math.Max(maxA, 0)));
        if (imag > ImaginaryTolerance)
            throw new ArithmeticException($"Fréchet distance: not a covariance matrix (negative eigenvalue {Math.Min(minA, minB):G4}); the square root has an imaginary component of {imag:G4}");
        return torch.linalg.svdvals(rb.matmul(ra)).sum().item<double>();
    }

    /// <summary>The PSD square root V diag(sqrt(max(lambda, 0))) V^T of a symmetric matrix [D, D], and its eigenvalues
    /// (those within round-off of zero set to zero).</summary>
    public static (Tensor root, Tensor eigenvalues) SymmetricSqrt(Tensor s)
    {
        var (lambda, v) = torch.linalg.eigh(s);                                // [D], [D, D] (eigenvectors as columns)
        // Eigenvalues within round-off of zero (numpy's rank tolerance D * eps * max |lambda|) are zero: their square
        // roots (~1e-8 of the largest) would otherwise add up over the null space of a rank-deficient covariance.
        double tol = s.shape[0] * 2.220446049250313e-16 * lambda.abs().max().item<double>();
        lambda = lambda.masked_fill(lambda.abs().le(tol), 0);
        var root = lambda.clamp(min: 0).sqrt();
        return ((v * root.unsqueeze(0)).matmul(v.transpose(0, 1)), lambda);
    }

    private static double Trace(double[,] c)
    {
        double t = 0;
        for (int i = 0; i < c.GetLength(0); i++) t += c[i, i];
        return t;
    }

    private static Tensor Symmetric(double[,] c)
    {
        int d = c.GetLength(0);
        var flat = new double[c.Length];
        Buffer.BlockCopy(c, 0, flat, 0, flat.Length * sizeof(double));
        var m = torch.tensor(flat, d, d);
        return (m + m.transpose(0, 1)) * 0.5;                     // exact symmetry for the symmetric solver
    }

    /// <summary>The mean [D] and (rows - mean) / sqrt(N - 1) [N, D] of a feature set, float64.</summary>
    private static (Tensor mean, Tensor scaled) ScaledCentred(double[,] x, string what)
    {
        int n = x.GetLength(0), d = x.GetLength(1);
        if (n < 2) throw new ArgumentException($"Fréchet distance: {what} has {n} samples, needs at least 2");
        var flat = new double[x.Length];
        Buffer.BlockCopy(x, 0, flat, 0, flat.Length * sizeof(double));
        for (int i = 0; i < flat.Length; i++)
            if (!double.IsFinite(flat[i])) throw new ArgumentException($"Fréchet distance: {what} has a non-finite value at [{i / d}, {i % d}]");
        var t = torch.tensor(flat, n, d);
        var mean = t.mean(0);
        return (mean, (t - mean) / Math.Sqrt(n - 1));
    }

    private static void CheckFinite(GaussianStatistics s, string what)
    {
        if (s.Covariance.GetLength(0) != s.Dim || s.Covariance.GetLength(1) != s.Dim)
            throw new ArgumentException($"Fréchet distance: {what}: covariance [{s.Covariance.GetLength(0)}, {s.Covariance.GetLength(1)}] does not match the mean [{s.Dim}]");
        if (s.Mean.Any(v => !double.IsFinite(v)) || s.Covariance.Cast<double>().Any(v => !double.IsFinite(v)))
            throw new ArgumentException($"Fréchet distance: {what} contain NaN or infinity");
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
        // The D x D product runs through libtorch (BLAS), in float64.
        using var scope = torch.NewScope();
        var flat = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) flat[i * d + j] = x[i, j] - mean[j];
        var centred = torch.tensor(flat, n, d);                              // [N, D] float64
        var cov = centred.transpose(0, 1).matmul(centred) / (n - 1);         // [D, D]
        var result = new double[d, d];
        var values = cov.contiguous().data<double>();
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(double));
        return new GaussianStatistics(mean, result, n);
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
