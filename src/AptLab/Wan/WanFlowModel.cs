using AptLab.Apt;
using AptLab.Diffusion;
using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>A Wan 2.1 DiT (T2V or I2V) as a flow model.</summary>
public sealed class WanFlowModel(WanModel net) : FlowModel
{
    public WanModel Net { get; } = net;
    public override Module Module => Net;
    public override int NumLayers => Net.config.NumLayers;
    public override int Dim => Net.config.Dim;
    public override int NumHeads => Net.config.NumHeads;
    public override bool GradientCheckpointing { get => Net.GradientCheckpointing; set => Net.GradientCheckpointing = value; }

    public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
    {
        using var scope = torch.NewScope();
        var t = WanTimesteps(sigma, x.device);                                         // [B]
        var o = Net.forward(x, t, c.Context, c.ClipFeatures, c.Y, hiddenAfter);
        scope.Keep(o.Output);
        scope.KeepAll(o.Hidden.ToArray());
        return o;
    }

    public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks)
    {
        using var scope = torch.NewScope();
        var t = WanTimesteps(sigma, x.device);
        var hidden = Net.hidden_states(x, t, c.Context, blocks, c.ClipFeatures, c.Y);
        scope.KeepAll(hidden.ToArray());
        return hidden;
    }

    public override FlowModel Copy()
    {
        var p = Net.patch_embedding.weight;
        var copy = new WanModel(Net.config, p.dtype, p.device) { GradientCheckpointing = Net.GradientCheckpointing };
        copy.load_state_dict(Net.state_dict());
        return new WanFlowModel(copy);
    }
}
