namespace AptLab.Wan.Vae;

/// <summary>
/// Hyper-parameters of the Wan 2.1 3D causal VAE (<c>WanVAE_</c>, docs/wan-vae.md#configuration). Error messages use
/// the official constructor's key names (<c>dim z_dim dim_mult num_res_blocks attn_scales temperal_downsample
/// dropout</c>, <c>temperal</c> sic). The encoder outputs 2·z_dim channels (mu, log_var).
/// </summary>
public sealed record WanVaeConfig
{
    /// <summary>Base channel count (96 in Wan 2.1).</summary>
    public int Dim { get; init; } = 96;
    /// <summary>Latent channels (16).</summary>
    public int ZDim { get; init; } = 16;
    /// <summary>Channel multipliers per stage ([1, 2, 4, 4]); one spatial ×2 resample between stages.</summary>
    public int[] DimMult { get; init; } = [1, 2, 4, 4];
    /// <summary>Residual blocks per encoder stage (the decoder has one more).</summary>
    public int NumResBlocks { get; init; } = 2;
    /// <summary>Spatial scales (1, 0.5, 0.25, ...) that get an AttentionBlock after each residual block; empty in Wan
    /// 2.1 (the middle attention block is always present).</summary>
    public double[] AttnScales { get; init; } = [];
    /// <summary>Per resample (DimMult.Length − 1 entries): temporal ×2 as well (official key <c>temperal_downsample</c>).</summary>
    public bool[] TemporalDownsample { get; init; } = [false, true, true];
    /// <summary>Dropout inside residual blocks (training only).</summary>
    public double Dropout { get; init; }

    /// <summary>The released <c>Wan2.1_VAE.pth</c> (126 892 531 parameters).</summary>
    public static WanVaeConfig Wan21 => new();

    /// <summary>The tiny test config: every code path, 924 491 parameters.</summary>
    public static WanVaeConfig Tiny => new() { Dim = 8 };

    /// <summary>The decoder's temporal upsampling flags: <see cref="TemporalDownsample"/> reversed.</summary>
    public bool[] TemporalUpsample => TemporalDownsample.Reverse().ToArray();

    /// <summary>Temporal compression factor (4 for Wan 2.1): latent frames = 1 + (T − 1) / factor.</summary>
    public int TemporalFactor => 1 << TemporalDownsample.Count(b => b);

    /// <summary>Spatial compression factor (8 for Wan 2.1).</summary>
    public int SpatialFactor => 1 << (DimMult.Length - 1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid key.</summary>
    public WanVaeConfig Validate()
    {
        static ArgumentException Bad(string key, string why) => new($"WanVaeConfig.{key}: {why}");
        if (Dim <= 0) throw Bad("dim", $"must be positive, got {Dim}");
        if (ZDim <= 0) throw Bad("z_dim", $"must be positive, got {ZDim}");
        if (DimMult is null || DimMult.Length < 1) throw Bad("dim_mult", "needs at least one stage");
        for (int i = 0; i < DimMult.Length; i++)
        {
            if (DimMult[i] <= 0) throw Bad("dim_mult", $"entry {i} must be positive, got {DimMult[i]}");
            // Every decoder resample halves its channels; the next stage expects exactly that half.
            if (i < DimMult.Length - 1 && Dim * DimMult[i] % 2 != 0)
                throw Bad("dim_mult", $"dim·dim_mult[{i}] = {Dim * DimMult[i]} must be even (the decoder upsample halves it)");
        }
        if (NumResBlocks < 1) throw Bad("num_res_blocks", $"must be at least 1, got {NumResBlocks}");
        if (AttnScales is null) throw Bad("attn_scales", "must be a list (empty for Wan 2.1)");
        if (TemporalDownsample is null || TemporalDownsample.Length != DimMult.Length - 1)
            throw Bad("temperal_downsample",
                $"needs dim_mult.Length − 1 = {DimMult.Length - 1} entries, got {TemporalDownsample?.Length ?? 0}");
        if (Dropout is < 0 or >= 1 || double.IsNaN(Dropout)) throw Bad("dropout", $"must be in [0, 1), got {Dropout}");
        return this;
    }

    public override string ToString() =>
        $"WanVaeConfig(dim={Dim}, z_dim={ZDim}, dim_mult=[{string.Join(",", DimMult)}], num_res_blocks={NumResBlocks}, " +
        $"attn_scales=[{string.Join(",", AttnScales)}], temperal_downsample=[{string.Join(",", TemporalDownsample)}], dropout={Dropout})";
}
