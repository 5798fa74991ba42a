using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// Conv3d that is causal in time: no built-in padding; before the conv the input is zero-padded by pw on both
/// sides of W, ph on both sides of H and 2·pt frames in front of T (none behind). With cached frames (streaming),
/// those frames are prepended and only the remaining 2·pt − k leading frames are zeros.
/// Keys: <c>weight [out, in, kT, kH, kW]</c>, <c>bias [out]</c>.
/// </summary>
public sealed class CausalConv3d : Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter bias;
    private readonly long[] stride;
    private readonly long pt, ph, pw;

    public CausalConv3d(long in_channels, long out_channels, long[] kernel, long[]? stride = null, long[]? padding = null)
    {
        if (kernel.Length != 3) throw new ArgumentException($"CausalConv3d: kernel needs 3 entries (t, h, w), got {kernel.Length}");
        this.stride = stride ?? [1, 1, 1];
        var p = padding ?? [0, 0, 0];
        (pt, ph, pw) = (p[0], p[1], p[2]);
        long fanIn = in_channels * kernel[0] * kernel[1] * kernel[2];
        double bound = 1 / Math.Sqrt(fanIn);
        weight = RegisterParameter("weight", torch.empty([out_channels, in_channels, .. kernel]).uniform_(-bound, bound));
        bias = RegisterParameter("bias", torch.empty([out_channels]).uniform_(-bound, bound));
    }

    /// <summary>Cubic kernel k with padding p on every axis (3×3×3 convs use k = 3, p = 1).</summary>
    public CausalConv3d(long in_channels, long out_channels, long k, long p = 0)
        : this(in_channels, out_channels, [k, k, k], null, [p, p, p]) { }

    /// <summary>Frames of zero padding in front of T without a cache (2·pt).</summary>
    public long TimePadding => 2 * pt;

    /// <summary>Whole-sequence causal conv. x: [B, Cin, T, H, W] -> [B, Cout, T', H', W']</summary>
    public override Tensor forward(Tensor x) => forward(x, (Tensor?)null);

    /// <summary>Conv with <paramref name="cached"/> frames [B, Cin, k, H, W] (k ≤ 2·pt) prepended in place of zeros.</summary>
    public Tensor forward(Tensor x, Tensor? cached)
    {
        using var scope = torch.NewScope();
        long front = TimePadding;
        if (cached is not null && front > 0)
        {
            x = torch.cat([cached, x], 2);
            front -= cached.size(2);
        }
        if (front > 0 || ph > 0 || pw > 0) x = F.pad(x, [pw, pw, ph, ph, front, 0]);
        return scope.Keep(F.conv3d(x, weight, bias, stride));
    }

    /// <summary>
    /// Streaming step (docs/wan-vae.md#streaming): conv over [cached frames, x], then the slot keeps the trailing
    /// frames of <paramref name="x"/> for the next chunk.
    /// </summary>
    public Tensor forward(Tensor x, CacheSlot slot)
    {
        var next = slot.NextFrames(x);
        var y = forward(x, slot.Frames);
        slot.Set(next);
        return y;
    }
}
