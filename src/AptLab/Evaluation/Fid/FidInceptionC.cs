using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>
/// Inception-v3 block C (Mixed_6b..6e) with factorised 1x7 / 7x1 convolutions, in pytorch-fid's variant (pool branch
/// averaged with count_include_pad = false). Outputs 192 x 4 channels: [1x1, 7x7, 7x7dbl, pool].
/// </summary>
public sealed class FidInceptionC : Module<Tensor, Tensor>
{
    public readonly BasicConv2d branch1x1, branch7x7_1, branch7x7_2, branch7x7_3,
        branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool;

    public FidInceptionC(long inChannels, long channels7x7, Device? device = null)
    {
        long c7 = channels7x7;
        BasicConv2d Row(long cin, long cout) => new(cin, cout, [1, 7], padding: [0, 3], device: device);   // 1x7
        BasicConv2d Col(long cin, long cout) => new(cin, cout, [7, 1], padding: [3, 0], device: device);   // 7x1
        branch1x1 = RegisterModule("branch1x1", BasicConv2d.Square(inChannels, 192, 1, device: device));
        branch7x7_1 = RegisterModule("branch7x7_1", BasicConv2d.Square(inChannels, c7, 1, device: device));
        branch7x7_2 = RegisterModule("branch7x7_2", Row(c7, c7));
        branch7x7_3 = RegisterModule("branch7x7_3", Col(c7, 192));
        branch7x7dbl_1 = RegisterModule("branch7x7dbl_1", BasicConv2d.Square(inChannels, c7, 1, device: device));
        branch7x7dbl_2 = RegisterModule("branch7x7dbl_2", Col(c7, c7));
        branch7x7dbl_3 = RegisterModule("branch7x7dbl_3", Row(c7, c7));
        branch7x7dbl_4 = RegisterModule("branch7x7dbl_4", Col(c7, c7));
        branch7x7dbl_5 = RegisterModule("branch7x7dbl_5", Row(c7, 192));
        branch_pool = RegisterModule("branch_pool", BasicConv2d.Square(inChannels, 192, 1, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, 768, 17, 17] -> [B, 768, 17, 17]
    {
        using var scope = torch.NewScope();
        var b1 = branch1x1.forward(x);
        var b7 = branch7x7_3.forward(branch7x7_2.forward(branch7x7_1.forward(x)));
        var bd = branch7x7dbl_1.forward(x);
        bd = branch7x7dbl_5.forward(branch7x7dbl_4.forward(branch7x7dbl_3.forward(branch7x7dbl_2.forward(bd))));
        var pool = branch_pool.forward(InceptionPools.AvgSame3x3(x));
        return scope.Keep(torch.cat([b1, b7, bd, pool], 1));
    }
}
