namespace AptLab.Wan.Vae;

/// <summary>
/// The streaming state of one encode or decode call (the official <c>feat_cache</c> list): one slot per
/// stateful layer (3×3×3 causal convs, temporal resamples), taken in forward order and reset to the first
/// slot at the start of every chunk. Slot tensors are owned here, outside every dispose scope; replacing a
/// slot frees the old frames, and disposing the cache frees them all.
/// </summary>
public sealed class FeatureCache : IDisposable
{
    /// <summary>Causal context carried between chunks (the official CACHE_T).</summary>
    public const int CacheFrames = 2;

    private readonly List<CacheSlot> slots = new();
    private int next;

    /// <summary>Restarts the slot order for the next chunk.</summary>
    public void BeginChunk() => next = 0;

    /// <summary>The next layer's slot (created empty on the first chunk).</summary>
    public CacheSlot Next()
    {
        if (next == slots.Count) slots.Add(new CacheSlot());
        return slots[next++];
    }

    /// <summary>Number of slots used so far.</summary>
    public int Count => slots.Count;

    public void Dispose()
    {
        foreach (var s in slots) s.Clear();
        slots.Clear();
    }
}

/// <summary>One layer's cached trailing frames ([B, C, ≤2, H, W]) and the upsample3d "seen" flag (the official
/// <c>'Rep'</c> sentinel).</summary>
public sealed class CacheSlot
{
    /// <summary>The cached frames, or null when nothing is cached.</summary>
    public Tensor? Frames { get; private set; }

    /// <summary>True once an upsample3d has passed its first (untouched) frame.</summary>
    public bool Seen { get; set; }

    public bool IsEmpty => Frames is null && !Seen;

    /// <summary>Stores <paramref name="frames"/> (taking it out of its scope) and frees the previous frames.</summary>
    public void Set(Tensor frames)
    {
        var old = Frames;
        Frames = frames.DetachFromScope();
        if (old is not null && !ReferenceEquals(old, frames)) old.Dispose();
    }

    public void Clear()
    {
        Frames?.Dispose();
        Frames = null;
        Seen = false;
    }

    /// <summary>
    /// The cache a causal conv keeps after consuming <paramref name="x"/> [B, C, T, H, W] (docs/wan-vae.md#streaming):
    /// its last 2 frames; for a single frame, [last cached frame, x] if something is cached, else x.
    /// </summary>
    public Tensor NextFrames(Tensor x)
    {
        long t = x.size(2);
        if (t >= FeatureCache.CacheFrames) return x.slice(2, t - FeatureCache.CacheFrames, t).clone();
        if (Frames is null) return x.clone();
        long c = Frames.size(2);
        using var last = Frames.slice(2, c - 1, c);
        return torch.cat([last, x], 2);
    }
}
