namespace AptLab.Evaluation;

/// <summary>
/// Mean and covariance of a feature set (float64; covariance with the unbiased 1/(N-1) normalisation), the
/// "statistics" of FID/FVD. Saved as an .npz with pytorch-fid's members <c>mu</c> [D] and <c>sigma</c> [D, D] (plus
/// <c>n</c>, the sample count, which pytorch-fid ignores), so statistics files are exchangeable both ways.
/// </summary>
/// <param name="Count">samples the statistics came from (0 when unknown, e.g. a pytorch-fid file)</param>
public sealed record GaussianStatistics(double[] Mean, double[,] Covariance, int Count)
{
    public int Dim => Mean.Length;

    public void Save(string path)
    {
        int d = Dim;
        var sigma = new double[d * d];
        Buffer.BlockCopy(Covariance, 0, sigma, 0, sigma.Length * sizeof(double));
        Npz.Write(path, new Dictionary<string, NpyArray>
        {
            ["mu"] = new([d], (double[])Mean.Clone()),
            ["sigma"] = new([d, d], sigma),
            ["n"] = new([], [Count]),
        });
    }

    /// <summary>Reads an .npz with <c>mu</c> [D] and <c>sigma</c> [D, D] (pytorch-fid's layout); errors name the file.</summary>
    public static GaussianStatistics Load(string path)
    {
        var full = Path.GetFullPath(path);
        var arrays = Npz.Read(full);
        if (!arrays.TryGetValue("mu", out var mu) || !arrays.TryGetValue("sigma", out var sigma))
            throw new InvalidDataException($"{full}: a statistics file needs arrays 'mu' and 'sigma' (pytorch-fid's layout); it has {string.Join(", ", arrays.Keys)}");
        if (mu.Shape.Length != 1 || sigma.Shape.Length != 2 || sigma.Shape[0] != mu.Shape[0] || sigma.Shape[1] != mu.Shape[0])
            throw new InvalidDataException($"{full}: 'mu' [{string.Join(", ", mu.Shape)}] and 'sigma' [{string.Join(", ", sigma.Shape)}] must be [D] and [D, D]");
        int d = (int)mu.Shape[0];
        var cov = new double[d, d];
        Buffer.BlockCopy(sigma.Values, 0, cov, 0, sigma.Values.Length * sizeof(double));
        int n = arrays.TryGetValue("n", out var na) && na.Values.Length == 1 ? (int)na.Values[0] : 0;
        return new GaussianStatistics(mu.Values, cov, n);
    }
}
