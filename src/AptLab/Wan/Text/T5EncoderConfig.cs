namespace AptLab.Wan.Text;

/// <summary>
/// Hyper-parameters of Wan's <c>T5Encoder</c> (the umT5 encoder, spec wan21 §5.1). Names follow the official
/// constructor: <c>vocab dim dim_attn dim_ffn num_heads num_layers num_buckets shared_pos</c>.
/// </summary>
/// <param name="Vocab">Token-embedding rows (umT5: 256384, padded beyond the tokenizer's real vocabulary).</param>
/// <param name="Dim">Model width.</param>
/// <param name="DimAttn">Width of q/k/v (num_heads x head_dim).</param>
/// <param name="DimFfn">Hidden width of the gated-GELU feed-forward.</param>
/// <param name="NumHeads">Attention heads.</param>
/// <param name="NumLayers">Encoder blocks.</param>
/// <param name="NumBuckets">Relative-position buckets (bidirectional: half for keys after the query).</param>
/// <param name="MaxDistance">Distance at which the logarithmic buckets saturate.</param>
/// <param name="SharedPos">False for umT5: every block has its own relative-position embedding.</param>
/// <param name="Eps">T5LayerNorm epsilon.</param>
/// <param name="TextLen">Tokens per prompt after padding/truncation (512 for Wan).</param>
public sealed record T5EncoderConfig(
    int Vocab, int Dim, int DimAttn, int DimFfn, int NumHeads, int NumLayers,
    int NumBuckets = 32, int MaxDistance = 128, bool SharedPos = false, double Eps = 1e-6, int TextLen = 512)
{
    /// <summary>umT5-XXL encoder as Wan 2.1 ships it (<c>models_t5_umt5-xxl-enc-bf16.pth</c>): 242 tensors,
    /// 5 680 910 336 parameters.</summary>
    public static readonly T5EncoderConfig UmT5Xxl = new(
        Vocab: 256384, Dim: 4096, DimAttn: 4096, DimFfn: 10240, NumHeads: 64, NumLayers: 24,
        NumBuckets: 32, MaxDistance: 128, SharedPos: false, Eps: 1e-6, TextLen: 512);

    /// <summary>T5-tiny of spec §9 (every code path, milliseconds on CPU).</summary>
    public static readonly T5EncoderConfig Tiny = new(
        Vocab: 100, Dim: 32, DimAttn: 32, DimFfn: 48, NumHeads: 4, NumLayers: 2,
        NumBuckets: 32, MaxDistance: 128, SharedPos: false, Eps: 1e-6, TextLen: 512);

    public int HeadDim => DimAttn / NumHeads;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid key.</summary>
    public T5EncoderConfig Validate()
    {
        static void Positive(string key, int v)
        {
            if (v <= 0) throw new ArgumentException($"T5EncoderConfig.{key} must be positive, got {v}");
        }
        Positive(nameof(Vocab), Vocab);
        Positive(nameof(Dim), Dim);
        Positive(nameof(DimAttn), DimAttn);
        Positive(nameof(DimFfn), DimFfn);
        Positive(nameof(NumHeads), NumHeads);
        Positive(nameof(NumLayers), NumLayers);
        Positive(nameof(TextLen), TextLen);
        if (DimAttn % NumHeads != 0)
            throw new ArgumentException($"T5EncoderConfig.{nameof(DimAttn)} ({DimAttn}) must be divisible by {nameof(NumHeads)} ({NumHeads})");
        if (NumBuckets < 4 || NumBuckets % 2 != 0)
            throw new ArgumentException($"T5EncoderConfig.{nameof(NumBuckets)} must be even and at least 4 (bidirectional buckets), got {NumBuckets}");
        if (MaxDistance <= NumBuckets / 4)
            throw new ArgumentException($"T5EncoderConfig.{nameof(MaxDistance)} ({MaxDistance}) must exceed {nameof(NumBuckets)}/4 ({NumBuckets / 4}), where the logarithmic buckets start");
        if (!(Eps > 0)) throw new ArgumentException($"T5EncoderConfig.{nameof(Eps)} must be positive, got {Eps}");
        return this;
    }
}
