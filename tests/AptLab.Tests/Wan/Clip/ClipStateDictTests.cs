using System.Text.Json;
using AptLab.Wan;
using AptLab.Wan.Clip;

namespace AptLab.Tests.Wan.Clip;

/// <summary>The released CLIP tower built on the meta device (no weights allocated): its keys, shapes and parameter
/// count against the spec's key list and the constructor arguments, and config validation.</summary>
public class ClipStateDictTests
{
    /// <summary>The vision part's keys and shapes, written out from the spec's key list (not from the model).</summary>
    private static List<(string key, long[] shape)> SpecVisualKeys(ClipVisionConfig c)
    {
        long d = c.Dim, p = c.PatchSize, g = c.ImageSize / c.PatchSize, m = (long)(c.Dim * c.MlpRatio);
        var k = new List<(string, long[])>
        {
            ("visual.patch_embedding.weight", [d, 3, p, p]),
            ("visual.cls_embedding", [1, 1, d]),
            ("visual.pos_embedding", [1, g * g + 1, d]),
            ("visual.pre_norm.weight", [d]), ("visual.pre_norm.bias", [d]),
        };
        for (int i = 0; i < c.NumLayers; i++)
        {
            var b = $"visual.transformer.{i}.";
            k.Add((b + "norm1.weight", [d])); k.Add((b + "norm1.bias", [d]));
            k.Add((b + "attn.to_qkv.weight", [3 * d, d])); k.Add((b + "attn.to_qkv.bias", [3 * d]));
            k.Add((b + "attn.proj.weight", [d, d])); k.Add((b + "attn.proj.bias", [d]));
            k.Add((b + "norm2.weight", [d])); k.Add((b + "norm2.bias", [d]));
            k.Add((b + "mlp.0.weight", [m, d])); k.Add((b + "mlp.0.bias", [m]));
            k.Add((b + "mlp.2.weight", [d, m])); k.Add((b + "mlp.2.bias", [d]));
        }
        k.Add(("visual.post_norm.weight", [d])); k.Add(("visual.post_norm.bias", [d]));
        k.Add(("visual.head", [d, c.OutDim]));
        return k;
    }

    /// <summary>Parameters of the vision tower from its constructor arguments.</summary>
    private static long VisualParams(ClipVisionConfig c)
    {
        long d = c.Dim, p = c.PatchSize, t = (long)Math.Pow(c.ImageSize / c.PatchSize, 2) + 1, m = (long)(c.Dim * c.MlpRatio);
        long block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (m * d + m) + (d * m + d);
        return 3 * d * p * p + d + t * d + 2 * d + c.NumLayers * block + 2 * d + d * c.OutDim;
    }

    /// <summary>Parameters of the text tower (XLM-RoBERTa + head) from its constructor arguments.</summary>
    private static long TextParams(ClipTextConfig c)
    {
        long d = c.Dim, f = 4 * d, mid = (c.Dim + c.OutDim) / 2;
        long block = 4 * (d * d + d) + 2 * d + (f * d + f) + (d * f + d) + 2 * d;
        return (long)c.VocabSize * d + c.TypeSize * d + c.MaxTextLen * d + c.NumLayers * block + 2 * d + mid * d + c.OutDim * mid;
    }

    [Fact]
    public void Released_vit_h14_on_meta_device_has_the_checkpoints_visual_keys_shapes_and_count()
    {
        var cfg = ClipConfig.XlmRobertaVitH14;
        using var enc = new ClipImageEncoder(cfg.Vision, ScalarType.BFloat16, Device.Meta);
        var sd = enc.state_dict();
        var spec = SpecVisualKeys(cfg.Vision);
        // Same key set (the official order, own parameters first, is checked against the reference weights file).
        Assert.Equal(spec.Select(s => s.key).OrderBy(k => k, StringComparer.Ordinal), sd.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (key, shape) in spec)
        {
            Assert.Equal(shape, sd[key].shape);
            Assert.Equal(DeviceType.Meta, sd[key].device.Type);
        }
        Assert.Equal(VisualParams(cfg.Vision), enc.num_parameters());

        // The whole released file: the vision part, the text tower and log_scale (spec wan21 §1 and §6).
        var nonVisual = cfg.NonVisualShapes().ToList();
        Assert.Equal(784, sd.Count + nonVisual.Count);
        long total = enc.num_parameters() + nonVisual.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(VisualParams(cfg.Vision) + TextParams(cfg.Text) + 1, total);
        Assert.Equal(1_193_014_785L, total);
        Assert.Equal(new long[] { 250002, 1024 }, nonVisual.Single(e => e.Key == "textual.token_embedding.weight").Shape);
        Assert.Empty(nonVisual.Single(e => e.Key == "log_scale").Shape);

        // Its output is the I2V DiT's clip_fea: 257 tokens of the width img_emb takes.
        Assert.Equal(257, cfg.Vision.NumTokens);
        Assert.Equal(WanConfig.I2V_14B.ClipDim, cfg.Vision.Dim);
        Assert.Equal(80, cfg.Vision.HeadDim);
        Assert.Equal(5120, cfg.Vision.MlpDim);
    }

    [Fact]
    public void Features_have_one_token_per_patch_plus_the_class_token_for_any_input_size()
    {
        using var _ = torch.NewScope();
        using var g = new Generator(1);
        using var enc = new ClipImageEncoder(ClipVisionConfig.Tiny, generator: g);
        var c = ClipVisionConfig.Tiny;
        var f = enc.Encode(torch.rand([2, 3, 37, 90]) * 2 - 1);               // any size: resized to image_size²
        Assert.Equal(new long[] { 2, c.NumTokens, c.Dim }, f.shape);
        Assert.Equal(ScalarType.Float32, f.dtype);
    }

    [Theory]
    [InlineData("num_heads", "must divide dim")]
    [InlineData("patch_size", "must divide image_size")]
    [InlineData("num_layers", "at least 2")]
    [InlineData("activation", "is not 'gelu' or 'quick_gelu'")]
    [InlineData("pool_type", "is not supported")]
    [InlineData("dim", "must be positive")]
    public void Invalid_vision_config_names_the_key(string key, string expected)
    {
        var t = ClipVisionConfig.Tiny;
        var bad = key switch
        {
            "num_heads" => t with { NumHeads = 3 },
            "patch_size" => t with { PatchSize = 5 },
            "num_layers" => t with { NumLayers = 1 },
            "activation" => t with { Activation = "swi_glu" },
            "pool_type" => t with { PoolType = "attn_pool" },
            _ => t with { Dim = 0 },
        };
        var e = Assert.Throws<ArgumentException>(() => bad.Validate());
        Assert.Contains(key, e.Message);
        Assert.Contains(expected, e.Message);
        var c = Assert.Throws<ArgumentException>(() => (ClipConfig.Tiny with { Text = ClipTextConfig.Tiny with { OutDim = 7 } }).Validate());
        Assert.Contains("out_dim", c.Message);
    }

    [Theory]
    [InlineData("\"num_heads\": 4, \"head_dim\": 17", "'head_dim'")]
    [InlineData("\"num_heads\": 4, \"tokens\": 16", "'tokens'")]
    [InlineData("\"num_heads\": 4, \"patch_embedding_bias\": true", "'patch_embedding_bias'")]
    [InlineData("\"num_heads\": 4, \"attn_dropout\": 0.1", "'attn_dropout'")]
    [InlineData("\"num_heads\": 4, \"widht\": 3", "unknown key 'widht'")]
    [InlineData("\"num_heads\": \"four\"", "'num_heads' has the wrong type")]
    [InlineData("\"activation\": \"gelu\"", "'num_heads' is missing")]
    public void Bad_json_config_names_the_key_and_file(string extra, string expected)
    {
        var json = "{\"image_size\": 56, \"patch_size\": 14, \"dim\": 64, \"mlp_ratio\": 4, \"out_dim\": 32, \"num_layers\": 3, " + extra + "}";
        using var doc = JsonDocument.Parse(json);
        var e = Assert.Throws<InvalidDataException>(() => ClipVisionConfig.FromJson(doc.RootElement, "case.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("case.json", e.Message);
    }
}
