namespace AptLab.Wan.Text;

/// <summary>
/// Hyper-parameters of Wan's <c>T5Encoder</c> (the umT5 encoder, docs/umt5.md#configuration). The official
/// constructor's keys are <c>vocab dim dim_attn dim_ffn num_heads num_layers num_buckets shared_pos</c>.
/// </summary>
public sealed record T5EncoderConfig
{
    /// <summary>Token-embedding rows (umT5: 256384, padded beyond the tokenizer's real vocabulary).</summary>
    public int Vocab { get; init; }
    /// <summary>Model width.</summary>
    public int Dim { get; init; }
    /// <summary>Width of q/k/v (num_heads x head_dim).</summary>
    public int DimAttn { get; init; }
    /// <summary>Hidden width of the gated-GELU feed-forward.</summary>
    public int DimFfn { get; init; }
    /// <summary>Attention heads.</summary>
    public int NumHeads { get; init; }
    /// <summary>Encoder blocks.</summary>
    public int NumLayers { get; init; }
    /// <summary>Relative-position buckets (bidirectional: half for keys after the query).</summary>
    public int NumBuckets { get; init; } = 32;
    /// <summary>Distance at which the logarithmic buckets saturate.</summary>
    public int MaxDistance { get; init; } = 128;
    /// <summary>False for umT5: every block has its own relative-position embedding.</summary>
    public bool SharedPos { get; init; }
    /// <summary>T5LayerNorm epsilon.</summary>
    public double Eps { get; init; } = 1e-6;
    /// <summary>Tokens per prompt after padding/truncation (512 for Wan).</summary>
    public int TextLen { get; init; } = 512;

    /// <summary>umT5-XXL encoder as Wan 2.1 ships it (<c>models_t5_umt5-xxl-enc-bf16.pth</c>): 242 tensors,
    /// 5 680 910 336 parameters.</summary>
    public static readonly T5EncoderConfig UmT5Xxl = new()
    {
        Vocab = 256384, Dim = 4096, DimAttn = 4096, DimFfn = 10240, NumHeads = 64, NumLayers = 24,
    };

    /// <summary>T5-tiny (every code path, milliseconds on CPU).</summary>
    public static readonly T5EncoderConfig Tiny = new()
    {
        Vocab = 100, Dim = 32, DimAttn = 32, DimFfn = 48, NumHeads = 4, NumLayers = 2,
    };

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
