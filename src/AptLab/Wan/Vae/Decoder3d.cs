using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// The VAE decoder (official <c>Decoder3d</c>), keys under <c>decoder.</c>:
/// <c>conv1</c> (3×3×3, z_dim→top channels) → <c>middle.{0,1,2}</c> (Res, Attn, Res) → <c>upsamples.N</c> (per
/// stage: num_res_blocks+1 ResidualBlocks, attention where the scale is in attn_scales, then a Resample that
/// halves the channels) → <c>head.{0,2}</c> (RMS_norm, SiLU, 3×3×3 conv to 3).
/// For Wan 2.1: [B, 16, t, h, w] -> [B, 3, 1+4(t-1), 8h, 8w].
/// </summary>
public sealed class Decoder3d : Module<Tensor, Tensor>
{
    public readonly CausalConv3d conv1;
    public readonly ResidualBlock middle0, middle2;
    public readonly AttentionBlock middle1;
    public readonly ModuleList<Module<Tensor, Tensor>> upsamples;
    public readonly VaeRmsNorm head0;
    public readonly CausalConv3d head2;

    public Decoder3d(WanVaeConfig config)
    {
        config.Validate();
        int n = config.DimMult.Length;
        // dims = dim · [dim_mult[-1]] ++ reversed(dim_mult): [384, 384, 384, 192, 96]
        long[] dims = [config.Dim * config.DimMult[^1], .. config.DimMult.Reverse().Select(u => (long)config.Dim * u)];
        var temperalUpsample = config.TemporalUpsample;
        double scale = 1.0 / Math.Pow(2, n - 2);

        conv1 = RegisterModule("conv1", new CausalConv3d(config.ZDim, dims[0], 3, 1));
        middle0 = new ResidualBlock(dims[0], dims[0], config.Dropout);
        middle1 = new AttentionBlock(dims[0]);
        middle2 = new ResidualBlock(dims[0], dims[0], config.Dropout);
        RegisterModule("middle", new IndexedModules(("0", middle0), ("1", middle1), ("2", middle2)));

        upsamples = RegisterModule("upsamples", new ModuleList<Module<Tensor, Tensor>>());
        for (int i = 0; i < n; i++)
        {
            // Every stage after the first receives the previous upsample's halved channels.
            long inDim = i > 0 ? dims[i] / 2 : dims[i], outDim = dims[i + 1];
            for (int r = 0; r < config.NumResBlocks + 1; r++)
            {
                upsamples.Add(new ResidualBlock(inDim, outDim, config.Dropout));
                if (config.AttnScales.Contains(scale)) upsamples.Add(new AttentionBlock(outDim));
                inDim = outDim;
            }
            if (i != n - 1)
            {
                var mode = temperalUpsample[i] ? ResampleMode.Upsample3d : ResampleMode.Upsample2d;
                upsamples.Add(new Resample(outDim, mode));
                scale *= 2.0;
            }
        }
        head0 = new VaeRmsNorm(dims[^1], images: false);
        head2 = new CausalConv3d(dims[^1], 3, 3, 1);
        RegisterModule("head", new IndexedModules(("0", head0), ("2", head2)));
    }

    /// <summary>Whole-sequence form (docs/wan-vae.md#streaming). x: [B, z_dim, t, h, w]</summary>
    public override Tensor forward(Tensor x) => forward(x, null);

    /// <summary>One latent frame of the streaming decode (slots in forward order), or the whole sequence when
    /// <paramref name="cache"/> is null. x: [B, z_dim, t, h, w] -> [B, 3, T, 8h, 8w]</summary>
    public Tensor forward(Tensor x, FeatureCache? cache)
    {
        using var scope = torch.NewScope();
        x = cache is null ? conv1.forward(x) : conv1.forward(x, cache.Next());
        x = middle0.forward(x, cache);
        x = middle1.forward(x);
        x = middle2.forward(x, cache);
        foreach (var layer in upsamples) x = StageLayers.Apply(layer, x, cache);
        x = head0.forward(x).silu();
        x = cache is null ? head2.forward(x) : head2.forward(x, cache.Next());
        return scope.Keep(x);
    }
}
