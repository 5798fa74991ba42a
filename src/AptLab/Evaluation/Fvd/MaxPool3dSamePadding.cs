using AptLab.Torch.nn;

namespace AptLab.Evaluation.Fvd;

/// <summary>I3D's max pooling: zero "SAME" padding (<see cref="SamePadding"/>), then max_pool3d without padding.</summary>
public sealed class MaxPool3dSamePadding(long[] kernel, long[] stride) : Module<Tensor, Tensor>
{
    public readonly long[] kernel = kernel, stride = stride;

    public override Tensor forward(Tensor x)                                  // x: [B, C, T, H, W] -> [B, C, ceil(T/st), ...]
    {
        using var padded = SamePadding.Pad(x, kernel, stride);
        return F.max_pool(padded, kernel, stride);
    }
}
