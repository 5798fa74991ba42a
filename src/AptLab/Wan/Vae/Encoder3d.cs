using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// The VAE encoder (official <c>Encoder3d</c>), keys under <c>encoder.</c>:
/// <c>conv1</c> (3×3×3, 3→dim) → <c>downsamples.N</c> (per stage: num_res_blocks ResidualBlocks, an
/// AttentionBlock after each when the scale is in attn_scales, then a Resample between stages) →
/// <c>middle.{0,1,2}</c> (Res, Attn, Res) → <c>head.{0,2}</c> (RMS_norm, SiLU, 3×3×3 conv to 2·z_dim).
/// For Wan 2.1: [B, 3, T, H, W] -> [B, 32, 1+(T-1)/4, H/8, W/8].
/// </summary>
public sealed class Encoder3d : Module<Tensor, Tensor>
{
    public readonly CausalConv3d conv1;
    public readonly ModuleList<Module<Tensor, Tensor>> downsamples;
    public readonly ResidualBlock middle0, middle2;
    public readonly AttentionBlock middle1;
    public readonly VaeRmsNorm head0;
    public readonly CausalConv3d head2;

    /// <param name="config">the VAE configuration</param>
    /// <param name="out_channels">head output channels (2·z_dim: mu and log_var)</param>
    public Encoder3d(WanVaeConfig config, long out_channels)
    {
        config.Validate();
        long[] dims = [config.Dim, .. config.DimMult.Select(u => (long)config.Dim * u)];   // [96, 96, 192, 384, 384]
        double scale = 1.0;

        conv1 = RegisterModule("conv1", new CausalConv3d(3, dims[0], 3, 1));
        downsamples = RegisterModule("downsamples", new ModuleList<Module<Tensor, Tensor>>());
        for (int i = 0; i < config.DimMult.Length; i++)
        {
            long inDim = dims[i], outDim = dims[i + 1];
            for (int r = 0; r < config.NumResBlocks; r++)
            {
                downsamples.Add(new ResidualBlock(inDim, outDim, config.Dropout));
                if (config.AttnScales.Contains(scale)) downsamples.Add(new AttentionBlock(outDim));
                inDim = outDim;
            }
            if (i != config.DimMult.Length - 1)
            {
                var mode = config.TemporalDownsample[i] ? ResampleMode.Downsample3d : ResampleMode.Downsample2d;
                downsamples.Add(new Resample(outDim, mode));
                scale /= 2.0;
            }
        }
        long top = dims[^1];
        middle0 = new ResidualBlock(top, top, config.Dropout);
        middle1 = new AttentionBlock(top);
        middle2 = new ResidualBlock(top, top, config.Dropout);
        RegisterModule("middle", new IndexedModules(("0", middle0), ("1", middle1), ("2", middle2)));
        head0 = new VaeRmsNorm(top, images: false);
        head2 = new CausalConv3d(top, out_channels, 3, 1);
        RegisterModule("head", new IndexedModules(("0", head0), ("2", head2)));
    }

    /// <summary>Whole-sequence form (docs/wan-vae.md#streaming). x: [B, 3, T, H, W]</summary>
    public override Tensor forward(Tensor x) => forward(x, null);

    /// <summary>One chunk of the streaming encode (slots taken in forward order), or the whole sequence when
    /// <paramref name="cache"/> is null. x: [B, 3, T, H, W] -> [B, 2·z_dim, T', H/8, W/8]</summary>
    public Tensor forward(Tensor x, FeatureCache? cache)
    {
        using var scope = torch.NewScope();
        x = cache is null ? conv1.forward(x) : conv1.forward(x, cache.Next());
        foreach (var layer in downsamples) x = StageLayers.Apply(layer, x, cache);
        x = middle0.forward(x, cache);
        x = middle1.forward(x);
        x = middle2.forward(x, cache);
        x = head0.forward(x).silu();
        x = cache is null ? head2.forward(x) : head2.forward(x, cache.Next());
        return scope.Keep(x);
    }
}
