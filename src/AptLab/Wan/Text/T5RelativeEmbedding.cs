using AptLab.Torch.nn;

namespace AptLab.Wan.Text;

/// <summary>
/// T5 relative-position bias (bidirectional buckets). Each umT5 block owns one (docs/umt5.md#forward):
/// <c>B[h, i, j] = embedding.weight[bucket(j - i), h]</c>. Key: <c>embedding.weight</c> [num_buckets, num_heads].
/// </summary>
public sealed class T5RelativeEmbedding : Module
{
    /// <summary>The bucket table (its own module so that the key is <c>embedding.weight</c>).</summary>
    public sealed class Table : Module
    {
        public readonly Parameter weight;   // [num_buckets, num_heads]
        public Table(long rows, long cols, ScalarType dtype, Device? device) =>
            weight = RegisterParameter("weight", torch.zeros([rows, cols], dtype, device));
    }

    public readonly Table embedding;
    public readonly int num_buckets, num_heads, max_dist;

    public T5RelativeEmbedding(int num_buckets, int num_heads, int max_dist = 128,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        (this.num_buckets, this.num_heads, this.max_dist) = (num_buckets, num_heads, max_dist);
        embedding = RegisterModule("embedding", new Table(num_buckets, num_heads, dtype, device));
    }

    /// <summary>The bias for lq queries and lk keys: [1, num_heads, lq, lk].</summary>
    public Tensor forward(long lq, long lk)
    {
        using var scope = torch.NewScope();
        var buckets = Buckets(lq, lk, num_buckets, max_dist).to(embedding.weight.device);   // [lq, lk] int64
        var bias = F.embedding(buckets, embedding.weight);                                    // [lq, lk, N]
        return scope.Keep(bias.permute(2, 0, 1).unsqueeze(0).contiguous());
    }

    /// <summary>
    /// Bucket of every (query i, key j) pair, with rel = j - i (key minus query): int64 [lq, lk].
    /// Half of the buckets are for keys after the query (rel > 0). Within a half, |rel| below num_buckets/4 is
    /// its own bucket; larger distances are log-spaced up to max_dist, evaluated in float32 as the official code
    /// does (so the boundaries land where PyTorch puts them: 8-11 -> 8, 12-15 -> 9, 16-22 -> 10, ... for 32/128).
    /// </summary>
    public static Tensor Buckets(long lq, long lk, int num_buckets, int max_dist)
    {
        using var scope = torch.NewScope();
        // Integer-valued float32 throughout (exact below 2^24); the engine's integer add/sub pass a float alpha.
        var rel = torch.arange(0, lk, 1, ScalarType.Float32).unsqueeze(0)
                  - torch.arange(0, lq, 1, ScalarType.Float32).unsqueeze(1);          // [lq, lk] = key - query
        long half = num_buckets / 2;
        long maxExact = half / 2;
        var side = rel.gt(0).to(ScalarType.Float32) * (double)half;                  // 0 or half
        var n = rel.abs();
        // log only where n >= maxExact (the clamp keeps log(0) out; those entries take the exact branch)
        var logRatio = (n.clamp(min: maxExact) / (double)maxExact).log() / Math.Log((double)max_dist / maxExact) * (half - maxExact);
        var large = logRatio.@long().to(ScalarType.Float32) + (double)maxExact;     // truncation, as .long()
        large = large.clamp(max: half - 1);
        var bucket = (side + torch.where(n.lt(maxExact), n, large)).to(ScalarType.Int64);
        return scope.Keep(bucket);
    }
}
