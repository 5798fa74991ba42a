using System.Text.Json;

namespace AptLab.Wan;

/// <summary>
/// Hyper-parameters of the Wan 2.1 diffusion transformer (<c>WanModel</c>), named as the official constructor
/// arguments (docs/wan-dit.md#hyper-parameters). Build from a preset or an explicit config; <see cref="Validate"/> names the bad key.
/// </summary>
public sealed record WanConfig
{
    /// <summary>"t2v" (text-to-video) or "i2v" (image-to-video: CLIP branch, 36 input channels).</summary>
    public string ModelType { get; init; } = "t2v";
    /// <summary>Patch size (t, h, w); the patch embedding is a Conv3d with kernel = stride = patch.</summary>
    public (int T, int H, int W) PatchSize { get; init; } = (1, 2, 2);
    /// <summary>Rows the text context is zero-padded to (512 for every release; the I2V split uses it).</summary>
    public int TextLen { get; init; } = 512;
    public int InDim { get; init; } = 16;
    public int Dim { get; init; } = 2048;
    public int FfnDim { get; init; } = 8192;
    /// <summary>Width of the sinusoidal timestep embedding.</summary>
    public int FreqDim { get; init; } = 256;
    /// <summary>Width of the text-encoder output (umT5-XXL: 4096).</summary>
    public int TextDim { get; init; } = 4096;
    public int OutDim { get; init; } = 16;
    public int NumHeads { get; init; } = 16;
    public int NumLayers { get; init; } = 32;
    /// <summary>Local attention window; only global attention (-1, -1) is used by Wan 2.1 and implemented.</summary>
    public (int Left, int Right) WindowSize { get; init; } = (-1, -1);
    public bool QkNorm { get; init; } = true;
    public bool CrossAttnNorm { get; init; } = true;
    public double Eps { get; init; } = 1e-6;
    /// <summary>Width of the CLIP image features fed to <c>img_emb</c> (I2V; 1280 for ViT-H/14).</summary>
    public int ClipDim { get; init; } = 1280;

    public int HeadDim => Dim / NumHeads;
    public bool IsI2V => ModelType == "i2v";
    /// <summary>Output values per token: out_dim · pt · ph · pw (64 for the releases).</summary>
    public int PatchOutDim => OutDim * PatchSize.T * PatchSize.H * PatchSize.W;

    /// <summary>Complex RoPE pairs per axis (frame, height, width): (c − 2⌊c/3⌋, ⌊c/3⌋, ⌊c/3⌋), c = head_dim/2 (docs/wan-dit.md#rope).</summary>
    public (int F, int H, int W) RopePairs
    {
        get
        {
            int c = HeadDim / 2;
            return (c - 2 * (c / 3), c / 3, c / 3);
        }
    }

    // ---- presets (docs/wan-dit.md#hyper-parameters) ----
    public static readonly WanConfig T2V_1_3B = new()
    {
        ModelType = "t2v", InDim = 16, Dim = 1536, FfnDim = 8960, FreqDim = 256, TextDim = 4096, OutDim = 16,
        NumHeads = 12, NumLayers = 30, TextLen = 512, Eps = 1e-6,
    };

    public static readonly WanConfig T2V_14B = new()
    {
        ModelType = "t2v", InDim = 16, Dim = 5120, FfnDim = 13824, FreqDim = 256, TextDim = 4096, OutDim = 16,
        NumHeads = 40, NumLayers = 40, TextLen = 512, Eps = 1e-6,
    };

    /// <summary>I2V-14B (the 480P and 720P releases share the architecture).</summary>
    public static readonly WanConfig I2V_14B = T2V_14B with { ModelType = "i2v", InDim = 36 };

    /// <summary>DiT-tiny of docs/wan-dit.md#forward-pass: dim 64, 2 heads (head_dim 32, RoPE pairs 6/5/5), 2 layers.</summary>
    public static readonly WanConfig TinyT2V = new()
    {
        ModelType = "t2v", InDim = 16, Dim = 64, FfnDim = 128, FreqDim = 32, TextDim = 48, OutDim = 16,
        NumHeads = 2, NumLayers = 2, TextLen = 512, Eps = 1e-6,
    };

    /// <summary>DiT-tiny I2V: 36 input channels, CLIP features of width <see cref="ClipDim"/>.</summary>
    public static readonly WanConfig TinyI2V = TinyT2V with { ModelType = "i2v", InDim = 36 };

    /// <summary>Checks every constraint the model relies on; the message names the offending key.</summary>
    public WanConfig Validate(string? source = null)
    {
        string where = source is null ? "WanConfig" : $"WanConfig ({source})";
        void Fail(string key, string why) => throw new ArgumentException($"{where}: {key} {why}");
        if (ModelType is not ("t2v" or "i2v")) Fail("model_type", $"must be \"t2v\" or \"i2v\", got \"{ModelType}\"");
        if (PatchSize.T <= 0 || PatchSize.H <= 0 || PatchSize.W <= 0) Fail("patch_size", $"must be positive, got {PatchSize}");
        foreach (var (key, v) in new[] { ("text_len", TextLen), ("in_dim", InDim), ("dim", Dim), ("ffn_dim", FfnDim),
                     ("freq_dim", FreqDim), ("text_dim", TextDim), ("out_dim", OutDim), ("num_heads", NumHeads),
                     ("num_layers", NumLayers), ("clip_dim", ClipDim) })
            if (v <= 0) Fail(key, $"must be positive, got {v}");
        if (Dim % NumHeads != 0) Fail("num_heads", $"({NumHeads}) must divide dim ({Dim})");
        if (HeadDim % 2 != 0) Fail("num_heads", $"gives head_dim {HeadDim}, which must be even for RoPE (dim / num_heads)");
        if (HeadDim < 6) Fail("num_heads", $"gives head_dim {HeadDim}; 3D RoPE needs head_dim >= 6 so every axis gets a pair");
        if (FreqDim % 2 != 0) Fail("freq_dim", $"must be even (cos | sin halves), got {FreqDim}");
        if (WindowSize != (-1, -1)) Fail("window_size", $"must be (-1, -1): only global attention is implemented, got {WindowSize}");
        if (!(Eps > 0)) Fail("eps", $"must be positive, got {Eps}");
        if (IsI2V && InDim <= OutDim) Fail("in_dim", $"({InDim}) of an i2v model must exceed out_dim ({OutDim}): y is concatenated to x");
        return this;
    }

    private static readonly string[] JsonKeys =
    [
        "model_type", "patch_size", "text_len", "in_dim", "dim", "ffn_dim", "freq_dim", "text_dim", "out_dim",
        "num_heads", "num_layers", "window_size", "qk_norm", "cross_attn_norm", "eps", "clip_dim",
    ];

    /// <summary>Reads the official <c>config.json</c> (diffusers ConfigMixin) or the same keys from a JSON object.
    /// Keys starting with "_" are metadata and ignored; an unknown key or a wrong type is an error naming it.
    /// Omitted keys take the official constructor defaults.</summary>
    public static WanConfig FromJson(JsonElement obj, string source = "config")
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object");
        var c = new WanConfig();
        foreach (var p in obj.EnumerateObject())
        {
            if (p.Name.StartsWith('_')) continue;
            if (!JsonKeys.Contains(p.Name))
                throw new InvalidDataException($"{source}: unknown key '{p.Name}' (expected one of {string.Join(", ", JsonKeys)})");
            try
            {
                c = p.Name switch
                {
                    "model_type" => c with { ModelType = p.Value.GetString()! },
                    "patch_size" => c with { PatchSize = Triple(p.Value) },
                    "text_len" => c with { TextLen = p.Value.GetInt32() },
                    "in_dim" => c with { InDim = p.Value.GetInt32() },
                    "dim" => c with { Dim = p.Value.GetInt32() },
                    "ffn_dim" => c with { FfnDim = p.Value.GetInt32() },
                    "freq_dim" => c with { FreqDim = p.Value.GetInt32() },
                    "text_dim" => c with { TextDim = p.Value.GetInt32() },
                    "out_dim" => c with { OutDim = p.Value.GetInt32() },
                    "num_heads" => c with { NumHeads = p.Value.GetInt32() },
                    "num_layers" => c with { NumLayers = p.Value.GetInt32() },
                    "window_size" => c with { WindowSize = Pair(p.Value) },
                    "qk_norm" => c with { QkNorm = p.Value.GetBoolean() },
                    "cross_attn_norm" => c with { CrossAttnNorm = p.Value.GetBoolean() },
                    "eps" => c with { Eps = p.Value.GetDouble() },
                    "clip_dim" => c with { ClipDim = p.Value.GetInt32() },
                    _ => c,
                };
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or IndexOutOfRangeException)
            {
                throw new InvalidDataException($"{source}: key '{p.Name}' has the wrong type or value ({p.Value.GetRawText()})");
            }
        }
        return c.Validate(source);
    }

    /// <summary>Reads a <c>config.json</c> file (see <see cref="FromJson(JsonElement, string)"/>).</summary>
    public static WanConfig FromJsonFile(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return FromJson(doc.RootElement, path);
    }

    private static (int, int, int) Triple(JsonElement e)
    {
        var a = e.EnumerateArray().Select(v => v.GetInt32()).ToArray();
        if (a.Length != 3) throw new FormatException();
        return (a[0], a[1], a[2]);
    }

    private static (int, int) Pair(JsonElement e)
    {
        var a = e.EnumerateArray().Select(v => v.GetInt32()).ToArray();
        if (a.Length != 2) throw new FormatException();
        return (a[0], a[1]);
    }
}
