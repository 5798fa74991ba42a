using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fvd;

/// <summary>
/// I3D's inflated Inception block: cat([b0 (1x1x1), b1b(b1a) (1x1x1 then 3x3x3), b2b(b2a) (1x1x1 then 3x3x3),
/// b3b(max pool 3x3x3 stride 1)]) over channels. <c>outChannels</c> = [b0, b1a, b1b, b2a, b2b, b3b] as in the official
/// constructor; the output has b0 + b1b + b2b + b3b channels.
/// </summary>
public sealed class InceptionModule : Module<Tensor, Tensor>
{
    public readonly Unit3D b0, b1a, b1b, b2a, b2b, b3b;
    public readonly MaxPool3dSamePadding b3a;

    public InceptionModule(long inChannels, long[] outChannels, Device? device = null)
    {
        if (outChannels.Length != 6) throw new ArgumentException("InceptionModule takes 6 output channel counts");
        long[] one = [1, 1, 1], three = [3, 3, 3];
        b0 = RegisterModule("b0", new Unit3D(inChannels, outChannels[0], one, device: device));
        b1a = RegisterModule("b1a", new Unit3D(inChannels, outChannels[1], one, device: device));
        b1b = RegisterModule("b1b", new Unit3D(outChannels[1], outChannels[2], three, device: device));
        b2a = RegisterModule("b2a", new Unit3D(inChannels, outChannels[3], one, device: device));
        b2b = RegisterModule("b2b", new Unit3D(outChannels[3], outChannels[4], three, device: device));
        b3a = RegisterModule("b3a", new MaxPool3dSamePadding(three, one));
        b3b = RegisterModule("b3b", new Unit3D(inChannels, outChannels[5], one, device: device));
    }

    public override Tensor forward(Tensor x)                                  // x: [B, Cin, T, H, W] -> [B, Cout, T, H, W]
    {
        using var scope = torch.NewScope();
        var y0 = b0.forward(x);
        var y1 = b1b.forward(b1a.forward(x));
        var y2 = b2b.forward(b2a.forward(x));
        var y3 = b3b.forward(b3a.forward(x));
        return scope.Keep(torch.cat([y0, y1, y2, y3], 1));
    }
}
