namespace AptLab.Wan.Vae;

/// <summary>
/// Hyper-parameters of the Wan 2.1 3D causal VAE (<c>WanVAE_</c>); names follow the official constructor
/// (<c>temperal_downsample</c> keeps its spelling). The encoder outputs 2·z_dim channels (mu, log_var).
/// </summary>
/// <param name="dim">base channel count (96 in Wan 2.1)</param>
/// <param name="z_dim">latent channels (16)</param>
/// <param name="dim_mult">channel multipliers per stage ([1, 2, 4, 4]); one spatial ×2 resample between stages</param>
/// <param name="num_res_blocks">residual blocks per encoder stage (the decoder has one more)</param>
/// <param name="attn_scales">spatial scales (1, 0.5, 0.25, ...) that get an AttentionBlock after each residual
/// block; empty in Wan 2.1 (the middle attention block is always present)</param>
/// <param name="temperal_downsample">per resample (dim_mult.Length − 1 entries): temporal ×2 as well</param>
/// <param name="dropout">dropout inside residual blocks (training only)</param>
public sealed record WanVaeConfig(
    int dim,
    int z_dim,
    int[] dim_mult,
    int num_res_blocks,
    double[] attn_scales,
    bool[] temperal_downsample,
    double dropout = 0.0)
{
    /// <summary>The released <c>Wan2.1_VAE.pth</c> (126 892 531 parameters).</summary>
    public static WanVaeConfig Wan21 => new(96, 16, [1, 2, 4, 4], 2, [], [false, true, true]);

    /// <summary>The tiny test config of the spec (§9): every code path, 924 491 parameters.</summary>
    public static WanVaeConfig Tiny => new(8, 16, [1, 2, 4, 4], 2, [], [false, true, true]);

    /// <summary>The decoder's temporal upsampling flags: <c>temperal_downsample</c> reversed.</summary>
    public bool[] temperal_upsample => temperal_downsample.Reverse().ToArray();

    /// <summary>Temporal compression factor (4 for Wan 2.1): latent frames = 1 + (T − 1) / factor.</summary>
    public int TemporalFactor => 1 << temperal_downsample.Count(b => b);

    /// <summary>Spatial compression factor (8 for Wan 2.1).</summary>
    public int SpatialFactor => 1 << (dim_mult.Length - 1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid key.</summary>
    public WanVaeConfig Validate()
    {
        static ArgumentException Bad(string key, string why) => new($"WanVaeConfig.{key}: {why}");
        if (dim <= 0) throw Bad(nameof(dim), $"must be positive, got {dim}");
        if (z_dim <= 0) throw Bad(nameof(z_dim), $"must be positive, got {z_dim}");
        if (dim_mult is null || dim_mult.Length < 1) throw Bad(nameof(dim_mult), "needs at least one stage");
        for (int i = 0; i < dim_mult.Length; i++)
        {
            if (dim_mult[i] <= 0) throw Bad(nameof(dim_mult), $"entry {i} must be positive, got {dim_mult[i]}");
            // Every decoder resample halves its channels; the next stage expects exactly that half.
            if (i < dim_mult.Length - 1 && dim * dim_mult[i] % 2 != 0)
                throw Bad(nameof(dim_mult), $"dim·dim_mult[{i}] = {dim * dim_mult[i]} must be even (the decoder upsample halves it)");
        }
        if (num_res_blocks < 1) throw Bad(nameof(num_res_blocks), $"must be at least 1, got {num_res_blocks}");
        if (attn_scales is null) throw Bad(nameof(attn_scales), "must be a list (empty for Wan 2.1)");
        if (temperal_downsample is null || temperal_downsample.Length != dim_mult.Length - 1)
            throw Bad(nameof(temperal_downsample),
                $"needs dim_mult.Length − 1 = {dim_mult.Length - 1} entries, got {temperal_downsample?.Length ?? 0}");
        if (dropout is < 0 or >= 1 || double.IsNaN(dropout)) throw Bad(nameof(dropout), $"must be in [0, 1), got {dropout}");
        return this;
    }

    public override string ToString() =>
        $"WanVaeConfig(dim={dim}, z_dim={z_dim}, dim_mult=[{string.Join(",", dim_mult)}], num_res_blocks={num_res_blocks}, " +
        $"attn_scales=[{string.Join(",", attn_scales)}], temperal_downsample=[{string.Join(",", temperal_downsample)}], dropout={dropout})";
}
