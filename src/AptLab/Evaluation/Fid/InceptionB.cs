using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>Inception-v3 grid reduction B (Mixed_6a), torchvision's: 35x35 -> 17x17; outputs 384 + 96 + Cin.</summary>
public sealed class InceptionB : Module<Tensor, Tensor>
{
    public readonly BasicConv2d branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3;

    public InceptionB(long inChannels, Device? device = null)
    {
        branch3x3 = RegisterModule("branch3x3", BasicConv2d.Square(inChannels, 384, 3, s: 2, device: device));
        branch3x3dbl_1 = RegisterModule("branch3x3dbl_1", BasicConv2d.Square(inChannels, 64, 1, device: device));
        branch3x3dbl_2 = RegisterModule("branch3x3dbl_2", BasicConv2d.Square(64, 96, 3, p: 1, device: device));
        branch3x3dbl_3 = RegisterModule("branch3x3dbl_3", BasicConv2d.Square(96, 96, 3, s: 2, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, Cin, H, W] -> [B, 480 + Cin, (H-3)/2+1, ..]
    {
        using var scope = torch.NewScope();
        var b3 = branch3x3.forward(x);
        var bd = branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x)));
        return scope.Keep(torch.cat([b3, bd, InceptionPools.MaxReduce3x3(x)], 1));
    }
}
