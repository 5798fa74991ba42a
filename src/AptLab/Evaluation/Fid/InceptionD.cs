using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fid;

/// <summary>Inception-v3 grid reduction D (Mixed_7a), torchvision's: 17x17 -> 8x8; outputs 320 + 192 + Cin.</summary>
public sealed class InceptionD : Module<Tensor, Tensor>
{
    public readonly BasicConv2d branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4;

    public InceptionD(long inChannels, Device? device = null)
    {
        branch3x3_1 = RegisterModule("branch3x3_1", BasicConv2d.Square(inChannels, 192, 1, device: device));
        branch3x3_2 = RegisterModule("branch3x3_2", BasicConv2d.Square(192, 320, 3, s: 2, device: device));
        branch7x7x3_1 = RegisterModule("branch7x7x3_1", BasicConv2d.Square(inChannels, 192, 1, device: device));
        branch7x7x3_2 = RegisterModule("branch7x7x3_2", new BasicConv2d(192, 192, [1, 7], padding: [0, 3], device: device));
        branch7x7x3_3 = RegisterModule("branch7x7x3_3", new BasicConv2d(192, 192, [7, 1], padding: [3, 0], device: device));
        branch7x7x3_4 = RegisterModule("branch7x7x3_4", BasicConv2d.Square(192, 192, 3, s: 2, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, 768, 17, 17] -> [B, 1280, 8, 8]
    {
        using var scope = torch.NewScope();
        var b3 = branch3x3_2.forward(branch3x3_1.forward(x));
        var b7 = branch7x7x3_4.forward(branch7x7x3_3.forward(branch7x7x3_2.forward(branch7x7x3_1.forward(x))));
        return scope.Keep(torch.cat([b3, b7, InceptionPools.MaxReduce3x3(x)], 1));
    }
}
