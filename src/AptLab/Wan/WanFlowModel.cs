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

    public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null) =>
        Kept(() => Net.forward(x, WanTimesteps(sigma, x.device), c.Context, c.ClipFeatures, c.Y, hiddenAfter));

    public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks) =>
        Kept(() => Net.hidden_states(x, WanTimesteps(sigma, x.device), c.Context, blocks, c.ClipFeatures, c.Y));

    public override FlowModel Copy()
    {
        var p = Net.patch_embedding.weight;
        var copy = new WanModel(Net.config, p.dtype, p.device) { GradientCheckpointing = Net.GradientCheckpointing };
        copy.load_state_dict(Net.state_dict());
        return new WanFlowModel(copy);
    }
}
