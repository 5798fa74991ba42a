using AptLab.Torch.nn;

namespace AptLab.Wan.Text;

/// <summary>
/// One umT5 encoder block (official name <c>T5SelfAttention</c>): pre-norm self-attention and gated FFN, both
/// residual. With <c>shared_pos = false</c> (umT5) the block owns its relative-position embedding.
/// Keys: <c>norm1.weight attn.{q,k,v,o}.weight norm2.weight ffn.* pos_embedding.embedding.weight</c>.
/// </summary>
public sealed class T5SelfAttention : Module
{
    public readonly T5LayerNorm norm1, norm2;
    public readonly T5Attention attn;
    public readonly T5FeedForward ffn;
    public readonly T5RelativeEmbedding? pos_embedding;

    public T5SelfAttention(T5EncoderConfig c, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        norm1 = RegisterModule("norm1", new T5LayerNorm(c.Dim, c.Eps, dtype, device));
        attn = RegisterModule("attn", new T5Attention(c.Dim, c.DimAttn, c.NumHeads, dtype, device));
        norm2 = RegisterModule("norm2", new T5LayerNorm(c.Dim, c.Eps, dtype, device));
        ffn = RegisterModule("ffn", new T5FeedForward(c.Dim, c.DimFfn, dtype, device));
        if (!c.SharedPos)
            pos_embedding = RegisterModule("pos_embedding", new T5RelativeEmbedding(c.NumBuckets, c.NumHeads, c.MaxDistance, dtype, device));
    }

    /// <param name="x">[B, L, dim]</param>
    /// <param name="mask">[B, L] (1 = real token) or null</param>
    /// <param name="sharedPosBias">the encoder's bias when shared_pos, else null</param>
    public Tensor forward(Tensor x, Tensor? mask, Tensor? sharedPosBias = null)
    {
        using var scope = torch.NewScope();
        long l = x.size(1);
        var e = pos_embedding?.forward(l, l) ?? sharedPosBias
                ?? throw new InvalidOperationException("T5SelfAttention: shared_pos block called without the shared position bias");
        var h = x + attn.forward(norm1.forward(x), mask, e);
        h = Fp16Clamp(h);
        h = Fp16Clamp(h + ffn.forward(norm2.forward(h)));
        return scope.Keep(h);
    }

    /// <summary>The official fp16 guard: clamp to +-(fp16 max - 1000) when an fp16 activation overflowed.</summary>
    private static Tensor Fp16Clamp(Tensor x)
    {
        if (x.dtype != ScalarType.Float16 || x.isfinite().all().item<bool>()) return x;
        const double clamp = 65504.0 - 1000.0;
        return x.clamp(-clamp, clamp);
    }
}
