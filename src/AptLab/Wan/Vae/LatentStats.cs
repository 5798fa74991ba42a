namespace AptLab.Wan.Vae;

/// <summary>
/// Per-channel latent statistics of the Wan 2.1 VAE: the DiT sees z = (mu − mean)·(1/std), and decoding
/// inverts it as z / (1/std) + mean (official <c>WanVAE</c> wrapper, <c>scale = [mean, 1/std]</c>).
/// </summary>
public sealed record LatentStats(float[] mean, float[] std)
{
    public static LatentStats Wan21 => new(
        [-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
         0.4134f, -0.0715f, 0.5517f, -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f],
        [2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
         3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f]);

    public int Channels => mean.Length;

    public LatentStats Validate(int z_dim)
    {
        if (mean.Length != z_dim || std.Length != z_dim)
            throw new ArgumentException($"LatentStats: mean and std need z_dim = {z_dim} entries, got {mean.Length} and {std.Length}");
        for (int c = 0; c < std.Length; c++)
            if (!(std[c] > 0) || float.IsInfinity(std[c]) || !float.IsFinite(mean[c]))
                throw new ArgumentException($"LatentStats: channel {c} has mean {mean[c]}, std {std[c]} (std must be positive and finite)");
        return this;
    }
}
