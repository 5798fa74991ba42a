namespace AptLab.Evaluation.Sync;

/// <summary>
/// The outcome of SyncNet's offset search over one clip (docs/evaluation.md, "Sync-C and Sync-D").
/// </summary>
/// <param name="Dists">[windows, 2·vshift + 1]: column k pairs lip window i with audio window i + k - vshift</param>
/// <param name="MeanDists">[2·vshift + 1] the mean of <paramref name="Dists"/> over windows</param>
/// <param name="MinDist">Sync-D: the smallest mean distance (lower is better)</param>
/// <param name="Offset">AV offset in frames: vshift - argmin (first index on ties)</param>
/// <param name="Confidence">Sync-C: median(mean distances) - min (higher is better)</param>
public sealed record SyncScores(double[,] Dists, double[] MeanDists, double MinDist, int Offset, double Confidence)
{
    /// <summary>
    /// SyncNet's <c>calc_pdist</c> and the lines of <c>evaluate()</c> after it, in float64: the audio embeddings get
    /// <paramref name="vshift"/> zero rows before and after, dists[i][k] = ||lip[i] - aud_pad[i + k] + 1e-6||_2
    /// (<c>F.pairwise_distance</c>'s eps), mean over windows, Sync-D = min, offset = vshift - argmin, Sync-C =
    /// median - min with the lower middle value for an even count (<c>torch.median</c>).
    /// </summary>
    public static SyncScores FromEmbeddings(float[,] lip, float[,] aud, int vshift = 15)
    {
        int w = lip.GetLength(0), d = lip.GetLength(1);
        if (aud.GetLength(0) != w || aud.GetLength(1) != d)
            throw new ArgumentException($"Sync: lip embeddings [{w}, {d}] and audio embeddings [{aud.GetLength(0)}, {aud.GetLength(1)}] must match");
        if (w < 1) throw new ArgumentException("Sync: no windows");
        if (vshift < 0) throw new ArgumentException("Sync: vshift must be >= 0");
        int shifts = 2 * vshift + 1;
        var dists = new double[w, shifts];
        for (int i = 0; i < w; i++)
            for (int k = 0; k < shifts; k++)
            {
                int j = i + k - vshift;                                       // audio window (outside 0..w-1: zero padding)
                double s = 0;
                for (int c = 0; c < d; c++)
                {
                    double diff = lip[i, c] - (j >= 0 && j < w ? aud[j, c] : 0.0) + 1e-6;
                    s += diff * diff;
                }
                dists[i, k] = Math.Sqrt(s);
            }
        var mean = new double[shifts];
        for (int k = 0; k < shifts; k++)
        {
            double s = 0;
            for (int i = 0; i < w; i++) s += dists[i, k];
            mean[k] = s / w;
        }
        int argmin = 0;
        for (int k = 1; k < shifts; k++) if (mean[k] < mean[argmin]) argmin = k;
        var sorted = (double[])mean.Clone();
        Array.Sort(sorted);
        double median = sorted[(shifts - 1) / 2];
        return new SyncScores(dists, mean, mean[argmin], vshift - argmin, median - mean[argmin]);
    }

    /// <summary>The same from embedding tensors [W, D].</summary>
    public static SyncScores FromEmbeddings(Tensor lip, Tensor aud, int vshift = 15) => FromEmbeddings(ToArray(lip), ToArray(aud), vshift);

    private static float[,] ToArray(Tensor t)
    {
        if (t.dim() != 2) throw new ArgumentException($"Sync: embeddings must be [W, D]; got [{string.Join(", ", t.shape)}]");
        using var f = t.to(Device.CPU, ScalarType.Float32).contiguous();
        var flat = f.data<float>();
        var r = new float[t.shape[0], t.shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(float));
        return r;
    }
}
