using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fvd;

/// <summary>
/// I3D's unit: "SAME" padding (<see cref="SamePadding"/>), Conv3d (padding 0), BatchNorm3d (eps 0.001), ReLU.
/// Keys <c>conv3d.weight</c> (+ <c>conv3d.bias</c>) and <c>bn.*</c>. The <c>logits</c> unit has a bias and neither
/// BatchNorm nor activation.
/// </summary>
public sealed class Unit3D : Module<Tensor, Tensor>
{
    public readonly Conv3d conv3d;
    public readonly BatchNorm3d? bn;
    public readonly long[] kernel, stride;
    public readonly bool activation;

    public Unit3D(long inChannels, long outChannels, long[] kernel, long[]? stride = null, bool batchNorm = true,
        bool bias = false, bool activation = true, Device? device = null)
    {
        this.kernel = kernel;
        this.stride = stride ?? [1, 1, 1];
        this.activation = activation;
        conv3d = RegisterModule("conv3d", new Conv3d(inChannels, outChannels, kernel, this.stride, [0], bias: bias, device: device));
        if (batchNorm) bn = RegisterModule("bn", new BatchNorm3d(outChannels, eps: 0.001, momentum: 0.01, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, Cin, T, H, W] -> [B, Cout, ceil(T/st), ...]
    {
        using var scope = torch.NewScope();
        var y = conv3d.forward(SamePadding.Pad(x, kernel, stride));
        if (bn is not null) y = bn.forward(y);
        if (activation) y = y.relu();
        return scope.Keep(y);
    }
}
