namespace AptLab.Wan.Clip;

/// <summary>
/// Hyper-parameters of the CLIP text tower (XLM-RoBERTa with a projection head, <c>textual</c> in the released
/// checkpoint). Wan never runs it; AptLab only needs its state-dict names and shapes, to recognise those keys in
/// the checkpoint and skip them (docs/wan-clip.md). Names follow the official constructor: <c>vocab_size
/// max_text_len type_size dim num_heads num_layers out_dim</c>.
/// </summary>
public sealed record ClipTextConfig(int VocabSize, int MaxTextLen, int TypeSize, int Dim, int NumHeads, int NumLayers, int OutDim)
{
    /// <summary>XLM-RoBERTa-large with its head, as in <c>clip_xlm_roberta_vit_h_14</c>.</summary>
    public static readonly ClipTextConfig XlmRobertaLarge = new(
        VocabSize: 250002, MaxTextLen: 514, TypeSize: 1, Dim: 1024, NumHeads: 16, NumLayers: 24, OutDim: 1024);

    /// <summary>A tiny text tower for tests (its keys in a tiny checkpoint).</summary>
    public static readonly ClipTextConfig Tiny = new(VocabSize: 32, MaxTextLen: 10, TypeSize: 1, Dim: 16, NumHeads: 2, NumLayers: 1, OutDim: 16);

    /// <summary>Hidden width of the two-layer head: (dim + out_dim) / 2.</summary>
    public int HeadMidDim => (Dim + OutDim) / 2;

    public ClipTextConfig Validate(string source = "ClipTextConfig")
    {
        foreach (var (k, v) in new[] { ("vocab_size", VocabSize), ("max_text_len", MaxTextLen), ("type_size", TypeSize), ("dim", Dim),
                     ("num_heads", NumHeads), ("num_layers", NumLayers), ("out_dim", OutDim) })
            if (v <= 0) throw new ArgumentException($"{source}: {k} must be positive, got {v}");
        if (Dim % NumHeads != 0) throw new ArgumentException($"{source}: num_heads {NumHeads} must divide dim {Dim}");
        return this;
    }

    /// <summary>
    /// The text tower's state-dict keys and shapes under <paramref name="prefix"/>, in module order: token, type and
    /// position embeddings; per block q/k/v/o projections, norm1, the 4×dim feed-forward (ffn.0, ffn.2), norm2; the
    /// final norm; the bias-free head (head.0 [mid, dim], head.2 [out, mid]).
    /// </summary>
    public IEnumerable<(string Key, long[] Shape)> StateDictShapes(string prefix = "textual.")
    {
        long d = Dim, f = 4L * Dim;
        yield return (prefix + "token_embedding.weight", [VocabSize, d]);
        yield return (prefix + "type_embedding.weight", [TypeSize, d]);
        yield return (prefix + "pos_embedding.weight", [MaxTextLen, d]);
        for (int i = 0; i < NumLayers; i++)
        {
            var b = $"{prefix}blocks.{i}.";
            foreach (var p in new[] { "q", "k", "v", "o" })
            {
                yield return (b + $"attn.{p}.weight", [d, d]);
                yield return (b + $"attn.{p}.bias", [d]);
            }
            yield return (b + "norm1.weight", [d]);
            yield return (b + "norm1.bias", [d]);
            yield return (b + "ffn.0.weight", [f, d]);
            yield return (b + "ffn.0.bias", [f]);
            yield return (b + "ffn.2.weight", [d, f]);
            yield return (b + "ffn.2.bias", [d]);
            yield return (b + "norm2.weight", [d]);
            yield return (b + "norm2.bias", [d]);
        }
        yield return (prefix + "norm.weight", [d]);
        yield return (prefix + "norm.bias", [d]);
        yield return (prefix + "head.0.weight", [HeadMidDim, d]);
        yield return (prefix + "head.2.weight", [OutDim, HeadMidDim]);
    }
}
