using AptLab.Torch.IO;
using AptLab.Torch.nn;

namespace AptLab.Wan.Text;

/// <summary>
/// Wan's umT5 encoder (official <c>wan.modules.t5.T5Encoder</c>, docs/umt5.md): token embedding, blocks of
/// pre-norm self-attention with relative-position bias and gated-GELU FFN, final T5LayerNorm. State-dict keys
/// are those of <c>models_t5_umt5-xxl-enc-bf16.pth</c>: <c>token_embedding.weight</c>, <c>blocks.N.*</c>,
/// <c>norm.weight</c> (and <c>pos_embedding.embedding.weight</c> only when shared_pos).
/// </summary>
public sealed class T5Encoder : Module
{
    public readonly T5EncoderConfig config;
    public readonly Embedding token_embedding;
    public readonly T5RelativeEmbedding? pos_embedding;
    public readonly ModuleList<T5SelfAttention> blocks;
    public readonly T5LayerNorm norm;

    /// <summary>Builds the encoder. On <see cref="Device.Meta"/> nothing is allocated (shape checks of the XXL
    /// preset); elsewhere parameters get the official init (for from-scratch use; checkpoints overwrite it).</summary>
    public T5Encoder(T5EncoderConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null, Generator? generator = null)
    {
        this.config = config.Validate();
        var c = config;
        token_embedding = RegisterModule("token_embedding", new Embedding(c.Vocab, c.Dim, dtype, device));
        if (c.SharedPos)
            pos_embedding = RegisterModule("pos_embedding", new T5RelativeEmbedding(c.NumBuckets, c.NumHeads, c.MaxDistance, dtype, device));
        blocks = RegisterModule("blocks", new ModuleList<T5SelfAttention>(
            Enumerable.Range(0, c.NumLayers).Select(_ => new T5SelfAttention(c, dtype, device))));
        norm = RegisterModule("norm", new T5LayerNorm(c.Dim, c.Eps, dtype, device));
        if ((device ?? Device.CPU).Type != DeviceType.Meta) InitWeights(generator);
    }

    /// <summary>Builds the encoder and strictly loads a checkpoint with the official keys (e.g. a safetensors
    /// conversion of <c>models_t5_umt5-xxl-enc-bf16.pth</c>, or the .pth itself), converting to <paramref name="dtype"/>.</summary>
    public static T5Encoder FromCheckpoint(string path, T5EncoderConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var enc = new T5Encoder(config, dtype, device);
        try
        {
            using var sd = Checkpoint.Load(path);
            enc.load_state_dict(sd, strict: true, source: path);
            return enc;
        }
        catch
        {
            enc.Dispose();
            throw;
        }
    }

    /// <param name="ids">[B, L] int64 token ids</param>
    /// <param name="mask">[B, L] attention mask (1 = real token, 0 = padding), any integer or float dtype; null
    /// attends everywhere</param>
    /// <returns>[B, L, dim]; padded rows are computed too (they attend to the real keys only)</returns>
    public Tensor forward(Tensor ids, Tensor? mask = null)
    {
        if (ids.dim() != 2) throw new ArgumentException($"T5Encoder: ids must be [B, L], got [{string.Join(", ", ids.shape)}]");
        if (mask is not null && !mask.shape.SequenceEqual(ids.shape))
            throw new ArgumentException($"T5Encoder: mask [{string.Join(", ", mask.shape)}] does not match ids [{string.Join(", ", ids.shape)}]");
        using var scope = torch.NewScope();
        var x = token_embedding.forward(ids);                                   // [B, L, dim]
        long l = ids.size(1);
        var shared = pos_embedding?.forward(l, l);                               // [1, N, L, L] when shared_pos
        foreach (var block in blocks)
        {
            var next = block.forward(x, mask, shared);
            if (!ReferenceEquals(x, next)) x.Dispose();
            x = next;
        }
        return scope.Keep(norm.forward(x));
    }

    /// <summary>
    /// What the official <c>T5EncoderModel</c> returns: each sequence's first <c>mask.sum()</c> rows
    /// (its real tokens, EOS included): a list of [L_b, dim].
    /// </summary>
    public static Tensor[] TrimToLength(Tensor hidden, Tensor mask)   // hidden: [B, L, dim], mask: [B, L]
    {
        var lens = SeqLens(mask);
        var result = new Tensor[lens.Length];
        for (int b = 0; b < lens.Length; b++) result[b] = hidden[b].narrow(0, 0, lens[b]);
        return result;
    }

    /// <summary>DiffSynth's equivalent of trimming: keep [B, L, dim] and zero every row at or after the real
    /// length.</summary>
    public static Tensor ZeroPadding(Tensor hidden, Tensor mask)       // hidden: [B, L, dim], mask: [B, L]
    {
        using var scope = torch.NewScope();
        var keep = mask.ne(0).unsqueeze(-1);                             // [B, L, 1]
        return scope.Keep(hidden.masked_fill(keep.logical_not(), 0.0));
    }

    /// <summary>Real length of every sequence: the number of non-zero mask entries.</summary>
    public static long[] SeqLens(Tensor mask)
    {
        using var scope = torch.NewScope();
        return mask.ne(0).sum(new long[] { 1 }).to(ScalarType.Int64).cpu().data<long>();
    }

    /// <summary>The official init_weights: norms 1, embedding N(0, 1), q N(0, (dim*dim_attn)^-1/2), k and v
    /// N(0, dim^-1/2), o N(0, (N*dim_attn)^-1/2), gate and fc1 N(0, dim^-1/2), fc2 N(0, dim_ffn^-1/2),
    /// relative embedding N(0, (2*num_buckets)^-1/2).</summary>
    private void InitWeights(Generator? g)
    {
        using var _ = torch.no_grad();
        var c = config;
        token_embedding.weight.normal_(0, 1.0, g);
        pos_embedding?.embedding.weight.normal_(0, 1 / Math.Sqrt(2.0 * c.NumBuckets), g);
        foreach (var blk in blocks)
        {
            blk.attn.q.weight.normal_(0, 1 / Math.Sqrt((double)c.Dim * c.DimAttn), g);
            blk.attn.k.weight.normal_(0, 1 / Math.Sqrt(c.Dim), g);
            blk.attn.v.weight.normal_(0, 1 / Math.Sqrt(c.Dim), g);
            blk.attn.o.weight.normal_(0, 1 / Math.Sqrt((double)c.NumHeads * c.DimAttn), g);
            ((Linear)blk.ffn.gate[0]).weight.normal_(0, 1 / Math.Sqrt(c.Dim), g);
            blk.ffn.fc1.weight.normal_(0, 1 / Math.Sqrt(c.Dim), g);
            blk.ffn.fc2.weight.normal_(0, 1 / Math.Sqrt(c.DimFfn), g);
            blk.pos_embedding?.embedding.weight.normal_(0, 1 / Math.Sqrt(2.0 * c.NumBuckets), g);
        }
    }

    /// <summary>An embedding table whose weight can be created on any device and dtype (including meta).</summary>
    public sealed class Embedding : Module<Tensor, Tensor>
    {
        public readonly Parameter weight;   // [num_embeddings, dim]
        public Embedding(long num, long dim, ScalarType dtype, Device? device) =>
            weight = RegisterParameter("weight", torch.zeros([num, dim], dtype, device));
        public override Tensor forward(Tensor ids) => F.embedding(ids, weight);   // [...] -> [..., dim]
    }
}
