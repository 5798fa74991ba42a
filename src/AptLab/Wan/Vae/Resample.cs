using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

public enum ResampleMode { Upsample2d, Upsample3d, Downsample2d, Downsample3d }

/// <summary>
/// Spatial ×2 resampling per frame, optionally with temporal ×2 (official <c>Resample</c>).
/// <list type="bullet">
/// <item>downsample: zero-pad right 1 / bottom 1, <c>resample.1</c> = Conv2d(C→C, 3, stride 2); the 3d mode then
/// applies <c>time_conv</c> = CausalConv3d(C→C, (3,1,1), stride (2,1,1), no padding), passing frame 0 through.</item>
/// <item>upsample: the 3d mode first applies <c>time_conv</c> = CausalConv3d(C→2C, (3,1,1), padding (1,0,0)) to
/// frames 1.. (frame 0 passes through; each later frame becomes two), then nearest-exact ×2 (in float32) and
/// <c>resample.1</c> = Conv2d(C→C/2, 3, padding 1): the channel count halves.</item>
/// </list>
/// </summary>
public sealed class Resample : Module<Tensor, Tensor>
{
    public readonly ResampleMode mode;
    public readonly long dim;
    private readonly Conv2d conv;              // resample.1
    public readonly CausalConv3d? time_conv;

    public Resample(long dim, ResampleMode mode)
    {
        this.dim = dim;
        this.mode = mode;
        bool up = mode is ResampleMode.Upsample2d or ResampleMode.Upsample3d;
        if (up && dim % 2 != 0) throw new ArgumentException($"Resample {mode}: channels {dim} must be even");
        conv = up ? new Conv2d(dim, dim / 2, [3], padding: [1]) : new Conv2d(dim, dim, [3], stride: [2]);
        // "resample.0" is the parameter-free zero pad / nearest upsample: only "resample.1" has keys.
        RegisterModule("resample", new IndexedModules(("1", conv)));
        if (mode == ResampleMode.Upsample3d)
            time_conv = RegisterModule("time_conv", new CausalConv3d(dim, dim * 2, [3, 1, 1], padding: [1, 0, 0]));
        else if (mode == ResampleMode.Downsample3d)
            time_conv = RegisterModule("time_conv", new CausalConv3d(dim, dim, [3, 1, 1], stride: [2, 1, 1]));
    }

    /// <summary>Whole-sequence form (docs/wan-vae.md#streaming). x: [B, C, T, H, W]</summary>
    public override Tensor forward(Tensor x) => forward(x, null);

    /// <summary>Streaming form with this layer's cache slot (temporal modes only), or the whole-sequence form
    /// when <paramref name="cache"/> is null.</summary>
    public Tensor forward(Tensor x, FeatureCache? cache)
    {
        using var scope = torch.NewScope();
        if (mode == ResampleMode.Upsample3d)
            x = cache is null ? TemporalUpsample(x) : TemporalUpsample(x, cache.Next());
        x = Spatial(x);
        if (mode == ResampleMode.Downsample3d)
            x = cache is null ? TemporalDownsample(x) : TemporalDownsample(x, cache.Next());
        return scope.Keep(x);
    }

    // Per-frame spatial op. x: [B, C, T, H, W] -> [B, C', T, H', W']
    private Tensor Spatial(Tensor x)
    {
        var s = x.shape;
        long b = s[0], c = s[1], t = s[2];
        var frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, s[3], s[4]);            // [B·T, C, H, W]
        Tensor y;
        if (mode is ResampleMode.Upsample2d or ResampleMode.Upsample3d)
        {
            var up = F.interpolate(frames.to(ScalarType.Float32), [2.0, 2.0], F.InterpolateMode.NearestExact)
                .to(frames.dtype);                                                         // [B·T, C, 2H, 2W]
            y = conv.forward(up);                                                          // [B·T, C/2, 2H, 2W]
        }
        else
            y = conv.forward(F.pad(frames, [0, 1, 0, 1]));                                 // [B·T, C, H/2, W/2]
        var o = y.shape;
        return y.view(b, t, o[1], o[2], o[3]).permute(0, 2, 1, 3, 4);                     // [B, C', T, H', W']
    }

    // ---- downsample3d (after the spatial op) ----

    // Whole sequence: [X0] ++ ValidConv_t(X; kernel 3, stride 2). x: [B, C, T, H, W] -> [B, C, 1+(T-1)/2, H, W]
    private Tensor TemporalDownsample(Tensor x)
    {
        long t = x.size(2);
        var first = x.slice(2, 0, 1);
        if (t < 3) return first;
        return torch.cat([first, time_conv!.forward(x, (Tensor?)null)], 2);
    }

    // Streaming (rule (b)): the first chunk's single frame passes and is cached; later chunks run time_conv on
    // [cached last frame, X] and cache X's last frame.
    private Tensor TemporalDownsample(Tensor x, CacheSlot slot)
    {
        long t = x.size(2);
        if (slot.Frames is null)
        {
            slot.Set(x.clone());
            return x;
        }
        var next = x.slice(2, t - 1, t).clone();
        long c = slot.Frames.size(2);
        var y = time_conv!.forward(torch.cat([slot.Frames.slice(2, c - 1, c), x], 2), (Tensor?)null);
        slot.Set(next);
        return y;
    }

    // ---- upsample3d (before the spatial op) ----

    // Whole sequence: [X0] ++ Interleave(CausalConv_t(X1..X_{T-1})). x: [B, C, T, H, W] -> [B, C, 1+2(T-1), H, W]
    private Tensor TemporalUpsample(Tensor x)
    {
        long t = x.size(2);
        var first = x.slice(2, 0, 1);
        if (t == 1) return first;
        var rest = Interleave(time_conv!.forward(x.slice(2, 1, t), (Tensor?)null));
        return torch.cat([first, rest], 2);
    }

    // Streaming (rule (c)): the first chunk passes untouched and marks the slot as seen; the second runs
    // time_conv with zero padding and caches [0, x]; later chunks use the 2-frame cache.
    private Tensor TemporalUpsample(Tensor x, CacheSlot slot)
    {
        if (slot.IsEmpty)
        {
            slot.Seen = true;
            return x;
        }
        Tensor next;
        Tensor y;
        if (slot.Frames is null)
        {
            // Seen but nothing cached yet (the official 'Rep' sentinel).
            long t = x.size(2);
            var tail = x.slice(2, Math.Max(0, t - FeatureCache.CacheFrames), t);
            next = tail.size(2) < FeatureCache.CacheFrames ? torch.cat([torch.zeros_like(tail), tail], 2) : tail.clone();
            y = time_conv!.forward(x, (Tensor?)null);
        }
        else
        {
            next = slot.NextFrames(x);
            y = time_conv!.forward(x, slot.Frames);
        }
        slot.Set(next);
        return Interleave(y);
    }

    // [B, 2C, T, H, W] -> [B, C, 2T, H, W]: channels [0, C) give frame 2j, channels [C, 2C) frame 2j+1.
    private Tensor Interleave(Tensor y)
    {
        var s = y.shape;
        long b = s[0], c = s[1] / 2, t = s[2], h = s[3], w = s[4];
        return y.view(b, 2, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, t * 2, h, w);
    }
}
