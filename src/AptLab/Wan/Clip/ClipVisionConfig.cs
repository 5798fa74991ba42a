using System.Text.Json;

namespace AptLab.Wan.Clip;

/// <summary>
/// Hyper-parameters of the CLIP vision tower (the official <c>VisionTransformer</c> constructor; see docs/wan-clip.md).
/// Keys are the constructor's argument names: <c>image_size patch_size dim mlp_ratio out_dim num_heads num_layers
/// pool_type pre_norm post_norm activation norm_eps</c>.
/// </summary>
/// <param name="ImageSize">Square input size in pixels; every image is resized to it.</param>
/// <param name="PatchSize">Kernel and stride of the patch-embedding convolution.</param>
/// <param name="Dim">Token width.</param>
/// <param name="MlpRatio">MLP hidden width = ⌊dim · mlp_ratio⌋.</param>
/// <param name="OutDim">Width of the projection <c>head</c> [dim, out_dim] (the CLIP embedding; unused by Wan).</param>
/// <param name="NumHeads">Attention heads (head_dim = dim / num_heads).</param>
/// <param name="NumLayers">Transformer blocks (the Wan features come from all but the last).</param>
/// <param name="PoolType">"token": a class token is prepended and the head is a bare [dim, out_dim] parameter.</param>
/// <param name="PreNorm">LayerNorm after the embeddings; when set, the patch convolution has no bias.</param>
/// <param name="PostNorm">Blocks normalise after each residual branch instead of before (false in every release).</param>
/// <param name="Activation">MLP activation: "gelu" (exact erf GELU) or "quick_gelu" (x·σ(1.702x)).</param>
/// <param name="NormEps">LayerNorm epsilon.</param>
public sealed record ClipVisionConfig(
    int ImageSize, int PatchSize, int Dim, double MlpRatio, int OutDim, int NumHeads, int NumLayers,
    string PoolType = "token", bool PreNorm = true, bool PostNorm = false, string Activation = "gelu", double NormEps = 1e-5)
{
    /// <summary>The vision tower of <c>clip_xlm_roberta_vit_h_14</c> as Wan 2.1 ships it
    /// (<c>models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth</c>): 224 px, patch 14, width 1280, 16 heads,
    /// 32 blocks, exact GELU, embedding width 1024.</summary>
    public static readonly ClipVisionConfig VitH14 = new(
        ImageSize: 224, PatchSize: 14, Dim: 1280, MlpRatio: 4, OutDim: 1024, NumHeads: 16, NumLayers: 32,
        PoolType: "token", PreNorm: true, PostNorm: false, Activation: "gelu", NormEps: 1e-5);

    /// <summary>A tiny tower for tests and the tiny sample preset: 28 px, patch 14 (2×2 patches + class token =
    /// 5 tokens), width 32, 2 heads, 3 blocks (2 used).</summary>
    public static readonly ClipVisionConfig Tiny = new(
        ImageSize: 28, PatchSize: 14, Dim: 32, MlpRatio: 4, OutDim: 16, NumHeads: 2, NumLayers: 3);

    public int GridSize => ImageSize / PatchSize;
    public int NumPatches => GridSize * GridSize;
    /// <summary>Tokens of the output: the class token plus one per patch (257 for ViT-H/14).</summary>
    public int NumTokens => NumPatches + 1;
    public int HeadDim => Dim / NumHeads;
    public int MlpDim => (int)(Dim * MlpRatio);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid key.</summary>
    public ClipVisionConfig Validate(string source = "ClipVisionConfig")
    {
        void Positive(string key, double v)
        {
            if (!(v > 0)) throw new ArgumentException($"{source}: {key} must be positive, got {v}");
        }
        Positive("image_size", ImageSize);
        Positive("patch_size", PatchSize);
        Positive("dim", Dim);
        Positive("mlp_ratio", MlpRatio);
        Positive("out_dim", OutDim);
        Positive("num_heads", NumHeads);
        Positive("num_layers", NumLayers);
        Positive("norm_eps", NormEps);
        if (ImageSize % PatchSize != 0)
            throw new ArgumentException($"{source}: patch_size {PatchSize} must divide image_size {ImageSize}");
        if (Dim % NumHeads != 0)
            throw new ArgumentException($"{source}: num_heads {NumHeads} must divide dim {Dim}");
        if (MlpDim < 1) throw new ArgumentException($"{source}: mlp_ratio {MlpRatio} gives an empty MLP for dim {Dim}");
        if (NumLayers < 2)
            throw new ArgumentException($"{source}: num_layers must be at least 2 (Wan's features are the output of all blocks but the last), got {NumLayers}");
        if (PoolType != "token")
            throw new ArgumentException($"{source}: pool_type '{PoolType}' is not supported (only 'token', the released tower's)");
        if (Activation is not ("gelu" or "quick_gelu"))
            throw new ArgumentException($"{source}: activation '{Activation}' is not 'gelu' or 'quick_gelu'");
        return this;
    }

    private static readonly string[] Derived = ["mlp_dim", "head_dim", "num_patches", "tokens", "patch_embedding_bias", "gelu_approximate"];
    private static readonly string[] Dropouts = ["attn_dropout", "proj_dropout", "embedding_dropout"];

    /// <summary>
    /// Reads a config object with the constructor's keys (e.g. the <c>config</c> of a reference case). Derived values
    /// that may also be present (<c>mlp_dim head_dim num_patches tokens patch_embedding_bias gelu_approximate</c>)
    /// must agree with the constructor keys; dropouts must be 0 (the tower only runs for inference); <c>module</c>
    /// is a description and is ignored. Optional keys left out take this record's defaults, which are those of
    /// <c>clip_xlm_roberta_vit_h_14</c> (e.g. activation "gelu"), not of the bare constructor (whose default is
    /// "quick_gelu"). Errors name the key and <paramref name="source"/>.
    /// </summary>
    public static ClipVisionConfig FromJson(JsonElement obj, string source = "config")
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object");
        var c = Tiny;
        var seen = new Dictionary<string, JsonElement>();
        foreach (var p in obj.EnumerateObject())
        {
            seen[p.Name] = p.Value;
            try
            {
                c = p.Name switch
                {
                    "image_size" => c with { ImageSize = p.Value.GetInt32() },
                    "patch_size" => c with { PatchSize = p.Value.GetInt32() },
                    "dim" => c with { Dim = p.Value.GetInt32() },
                    "mlp_ratio" => c with { MlpRatio = p.Value.GetDouble() },
                    "out_dim" => c with { OutDim = p.Value.GetInt32() },
                    "num_heads" => c with { NumHeads = p.Value.GetInt32() },
                    "num_layers" => c with { NumLayers = p.Value.GetInt32() },
                    "pool_type" => c with { PoolType = p.Value.GetString()! },
                    "pre_norm" => c with { PreNorm = p.Value.GetBoolean() },
                    "post_norm" => c with { PostNorm = p.Value.GetBoolean() },
                    "activation" => c with { Activation = p.Value.GetString()! },
                    "norm_eps" => c with { NormEps = p.Value.GetDouble() },
                    "module" => c,
                    _ when Derived.Contains(p.Name) => c,
                    _ when Dropouts.Contains(p.Name) => p.Value.GetDouble() == 0 ? c
                        : throw new InvalidDataException($"{source}: key '{p.Name}' is {p.Value.GetRawText()}; only 0 is supported (inference)"),
                    _ => throw new InvalidDataException($"{source}: unknown key '{p.Name}'"),
                };
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{source}: key '{p.Name}' has the wrong type or value ({p.Value.GetRawText()})");
            }
        }
        foreach (var key in new[] { "image_size", "patch_size", "dim", "mlp_ratio", "out_dim", "num_heads", "num_layers" })
            if (!seen.ContainsKey(key)) throw new InvalidDataException($"{source}: key '{key}' is missing");
        try { c.Validate(source); }
        catch (ArgumentException e) { throw new InvalidDataException(e.Message); }

        void Agree(string key, object expected, Func<JsonElement, object> read)
        {
            if (seen.TryGetValue(key, out var v) && !Equals(read(v), expected))
                throw new InvalidDataException($"{source}: key '{key}' is {v.GetRawText()} but the other keys give {expected}");
        }
        Agree("mlp_dim", c.MlpDim, v => v.GetInt32());
        Agree("head_dim", c.HeadDim, v => v.GetInt32());
        Agree("num_patches", c.NumPatches, v => v.GetInt32());
        Agree("tokens", c.NumTokens, v => v.GetInt32());
        Agree("patch_embedding_bias", !c.PreNorm, v => v.GetBoolean());
        Agree("gelu_approximate", "none", v => c.Activation == "gelu" ? v.GetString()! : "none");
        return c;
    }
}
