using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>
/// Inception-v3 block E (Mixed_7b, 7c) with split 1x3 / 3x1 branches, in pytorch-fid's two variants: E_1 (Mixed_7b)
/// averages its pool branch with count_include_pad = false, E_2 (Mixed_7c) max-pools it (a quirk of the TF graph the
/// FID weights come from). Outputs 320 + 768 + 768 + 192 = 2048 channels.
/// </summary>
public sealed class FidInceptionE : Module<Tensor, Tensor>
{
    public readonly BasicConv2d branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b,
        branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b, branch_pool;
    public readonly bool maxPool;

    /// <param name="maxPool">false: FIDInceptionE_1 (average pool); true: FIDInceptionE_2 (max pool)</param>
    public FidInceptionE(long inChannels, bool maxPool, Device? device = null)
    {
        this.maxPool = maxPool;
        branch1x1 = RegisterModule("branch1x1", BasicConv2d.Square(inChannels, 320, 1, device: device));
        branch3x3_1 = RegisterModule("branch3x3_1", BasicConv2d.Square(inChannels, 384, 1, device: device));
        branch3x3_2a = RegisterModule("branch3x3_2a", new BasicConv2d(384, 384, [1, 3], padding: [0, 1], device: device));
        branch3x3_2b = RegisterModule("branch3x3_2b", new BasicConv2d(384, 384, [3, 1], padding: [1, 0], device: device));
        branch3x3dbl_1 = RegisterModule("branch3x3dbl_1", BasicConv2d.Square(inChannels, 448, 1, device: device));
        branch3x3dbl_2 = RegisterModule("branch3x3dbl_2", BasicConv2d.Square(448, 384, 3, p: 1, device: device));
        branch3x3dbl_3a = RegisterModule("branch3x3dbl_3a", new BasicConv2d(384, 384, [1, 3], padding: [0, 1], device: device));
        branch3x3dbl_3b = RegisterModule("branch3x3dbl_3b", new BasicConv2d(384, 384, [3, 1], padding: [1, 0], device: device));
        branch_pool = RegisterModule("branch_pool", BasicConv2d.Square(inChannels, 192, 1, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, Cin, 8, 8] -> [B, 2048, 8, 8]
    {
        using var scope = torch.NewScope();
        var b1 = branch1x1.forward(x);
        var b3 = branch3x3_1.forward(x);
        b3 = torch.cat([branch3x3_2a.forward(b3), branch3x3_2b.forward(b3)], 1);
        var bd = branch3x3dbl_2.forward(branch3x3dbl_1.forward(x));
        bd = torch.cat([branch3x3dbl_3a.forward(bd), branch3x3dbl_3b.forward(bd)], 1);
        var pooled = maxPool ? InceptionPools.MaxSame3x3(x) : InceptionPools.AvgSame3x3(x);
        return scope.Keep(torch.cat([b1, b3, bd, branch_pool.forward(pooled)], 1));
    }
}
