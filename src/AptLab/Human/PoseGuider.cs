using AptLab.Torch.nn;
using AptLab.Wan;

namespace AptLab.Human;

/// <summary>
/// The pose guider (docs/omnihuman.md#pose): pose heatmaps at pixel resolution -> pose features on the latent grid.
/// <code>
/// heatmaps [B, C_heat, L, H, W], L = 1 + 4k video frames
///   -> frame 0 repeated 3 more times in front (as the causal VAE encodes frame 0 alone): 4(k + 1) frames
///   -> layers.i: Conv3d(k = 3, pad 1), stride 2 in space for the first log2(vae_spatial) layers and in time for the
///      last log2(vae_temporal) ones, SiLU after each
///   -> proj: Conv3d(k = 1) to C_pose              [B, C_pose, F, H/s, W/s], F = k + 1 latent frames
/// </code>
/// <see cref="Neighbours"/> then stacks each latent frame's features with those of its ±n neighbours (edge frames
/// repeated) on channels: [B, (2n + 1) C_pose, F, h, w], what the widened patch embedding reads.
/// </summary>
public sealed class PoseGuider : Module
{
    public readonly ModuleList<Conv3d> layers;
    public readonly Conv3d proj;
    private readonly int vaeTemporal;

    public PoseGuider(OmniHumanConfig c, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        vaeTemporal = c.VaeTemporal;
        int steps = c.PoseGuiderWidths.Length, spatial = OmniHumanConfig.Log2(c.VaeSpatial), temporal = OmniHumanConfig.Log2(c.VaeTemporal);
        var convs = new List<Conv3d>();
        int inCh = c.PoseHeatmapChannels;
        for (int i = 0; i < steps; i++)
        {
            long ts = i >= steps - temporal ? 2 : 1, ss = i < spatial ? 2 : 1;
            convs.Add(new Conv3d(inCh, c.PoseGuiderWidths[i], [3, 3, 3], stride: [ts, ss, ss], padding: [1, 1, 1], dtype: dtype, device: device));
            inCh = c.PoseGuiderWidths[i];
        }
        layers = RegisterModule("layers", new ModuleList<Conv3d>(convs));
        proj = RegisterModule("proj", new Conv3d(inCh, c.PoseChannels, [1, 1, 1], dtype: dtype, device: device));
    }

    /// <summary>heatmaps [B, C_heat, 1 + 4k, H, W] -> [B, C_pose, k + 1, H/s, W/s] in the guider's weight dtype.</summary>
    public Tensor forward(Tensor heatmaps)
    {
        if (heatmaps.dim() != 5 || heatmaps.size(1) != layers[0].weight.size(1))
            throw new ArgumentException($"PoseGuider: heatmaps must be [B, {layers[0].weight.size(1)}, L, H, W], got [{string.Join(", ", heatmaps.shape)}]");
        long l = heatmaps.size(2);
        if ((l - 1) % vaeTemporal != 0)
            throw new ArgumentException($"PoseGuider: {l} frames; the VAE's latent frames need 1 + {vaeTemporal}k");
        using var scope = torch.NewScope();
        var x = heatmaps.As(proj.weight.dtype);
        x = torch.cat([x.narrow(2, 0, 1).expand(x.size(0), x.size(1), vaeTemporal - 1, x.size(3), x.size(4)), x], 2);   // [B, C, 4(k+1), H, W]
        foreach (var conv in layers) x = conv.forward(x).silu();
        return scope.Keep(proj.forward(x));
    }

    /// <summary>features [B, C, F, h, w] -> [B, (2n + 1) C, F, h, w]: channels of frames f - n .. f + n in that order,
    /// frame indices clamped to [0, F - 1].</summary>
    public static Tensor Neighbours(Tensor features, int n)
    {
        if (n == 0) return features.alias();
        using var scope = torch.NewScope();
        long f = features.size(2);
        var parts = new List<Tensor>();
        for (int d = -n; d <= n; d++)
        {
            var idx = torch.tensor(Enumerable.Range(0, (int)f).Select(i => (long)Math.Clamp(i + d, 0, f - 1)).ToArray(), f).to(features.device);
            parts.Add(features.index_select(2, idx));
        }
        return scope.Keep(torch.cat(parts, 1));
    }
}
