using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>
/// Inception-v3 block A (Mixed_5b, 5c, 5d) in pytorch-fid's variant: the pool branch averages a 3x3 window with
/// stride 1 and padding 1 dividing by the number of real pixels (count_include_pad = false, TF's behaviour).
/// Output channels 64 + 64 + 96 + pool_features, concatenated in that order.
/// </summary>
public sealed class FidInceptionA : Module<Tensor, Tensor>
{
    public readonly BasicConv2d branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool;

    public FidInceptionA(long inChannels, long poolFeatures, Device? device = null)
    {
        branch1x1 = RegisterModule("branch1x1", BasicConv2d.Square(inChannels, 64, 1, device: device));
        branch5x5_1 = RegisterModule("branch5x5_1", BasicConv2d.Square(inChannels, 48, 1, device: device));
        branch5x5_2 = RegisterModule("branch5x5_2", BasicConv2d.Square(48, 64, 5, p: 2, device: device));
        branch3x3dbl_1 = RegisterModule("branch3x3dbl_1", BasicConv2d.Square(inChannels, 64, 1, device: device));
        branch3x3dbl_2 = RegisterModule("branch3x3dbl_2", BasicConv2d.Square(64, 96, 3, p: 1, device: device));
        branch3x3dbl_3 = RegisterModule("branch3x3dbl_3", BasicConv2d.Square(96, 96, 3, p: 1, device: device));
        branch_pool = RegisterModule("branch_pool", BasicConv2d.Square(inChannels, poolFeatures, 1, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, Cin, H, W] -> [B, 224 + pool, H, W]
    {
        using var scope = torch.NewScope();
        var b1 = branch1x1.forward(x);
        var b5 = branch5x5_2.forward(branch5x5_1.forward(x));
        var b3 = branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x)));
        var pool = branch_pool.forward(InceptionPools.AvgSame3x3(x));
        return scope.Keep(torch.cat([b1, b5, b3, pool], 1));
    }
}

/// <summary>The two pool branches of pytorch-fid's blocks (docs/evaluation.md, "FID").</summary>
internal static class InceptionPools
{
    /// <summary>3x3 average, stride 1, padding 1, border windows divided by their real pixel count.</summary>
    public static Tensor AvgSame3x3(Tensor x) => F.avg_pool(x, [3, 3], [1, 1], [1, 1], count_include_pad: false);

    /// <summary>3x3 max, stride 1, padding 1 (FIDInceptionE_2 only).</summary>
    public static Tensor MaxSame3x3(Tensor x) => F.max_pool(x, [3, 3], [1, 1], [1, 1]);

    /// <summary>3x3 max, stride 2, no padding (the reduction blocks B and D).</summary>
    public static Tensor MaxReduce3x3(Tensor x) => F.max_pool(x, [3, 3], [2, 2]);
}
