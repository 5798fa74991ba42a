using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>
/// Inception-v3's unit: Conv2d without bias, BatchNorm2d (eps 0.001, running statistics in eval), ReLU
/// (docs/evaluation.md, "FID"). State-dict keys <c>conv.weight</c>, <c>bn.{weight,bias,running_mean,running_var,...}</c>.
/// </summary>
public sealed class BasicConv2d : Module<Tensor, Tensor>
{
    public readonly Conv2d conv;
    public readonly BatchNorm2d bn;

    public BasicConv2d(long inChannels, long outChannels, long[] kernel, long[]? stride = null, long[]? padding = null, Device? device = null)
    {
        conv = RegisterModule("conv", new Conv2d(inChannels, outChannels, kernel, stride, padding, bias: false, device: device));
        bn = RegisterModule("bn", new BatchNorm2d(outChannels, eps: 0.001, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, Cin, H, W] -> [B, Cout, H', W']
    {
        using var scope = torch.NewScope();
        return scope.Keep(bn.forward(conv.forward(x)).relu());
    }

    /// <summary>A square kernel k with padding p and stride s.</summary>
    public static BasicConv2d Square(long cin, long cout, long k, long s = 1, long p = 0, Device? device = null) =>
        new(cin, cout, [k, k], [s, s], [p, p], device);
}
