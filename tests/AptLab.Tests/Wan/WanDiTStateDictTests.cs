using AptLab.Wan;
using AptLab.Torch.IO;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan;

/// <summary>State-dict names and shapes of the released configs (built on the meta device, no weights
/// allocated) against docs/wan-dit.md#checkpoints, and strict-loading errors.</summary>
public class WanDiTStateDictTests
{
    /// <summary>The checkpoint keys (docs/wan-dit.md#checkpoints), written out from the table (not from the model).</summary>
    private static List<(string key, long[] shape)> SpecKeys(WanConfig c)
    {
        long D = c.Dim, Fd = c.FfnDim, Cin = c.InDim;
        var k = new List<(string, long[])>
        {
            ("patch_embedding.weight", [D, Cin, 1, 2, 2]), ("patch_embedding.bias", [D]),
            ("text_embedding.0.weight", [D, 4096]), ("text_embedding.0.bias", [D]),
            ("text_embedding.2.weight", [D, D]), ("text_embedding.2.bias", [D]),
            ("time_embedding.0.weight", [D, 256]), ("time_embedding.0.bias", [D]),
            ("time_embedding.2.weight", [D, D]), ("time_embedding.2.bias", [D]),
            ("time_projection.1.weight", [6 * D, D]), ("time_projection.1.bias", [6 * D]),
        };
        for (int i = 0; i < c.NumLayers; i++)
        {
            string b = $"blocks.{i}.";
            k.Add((b + "modulation", [1, 6, D]));
            foreach (var p in new[] { "q", "k", "v", "o" }) { k.Add((b + $"self_attn.{p}.weight", [D, D])); k.Add((b + $"self_attn.{p}.bias", [D])); }
            k.Add((b + "self_attn.norm_q.weight", [D])); k.Add((b + "self_attn.norm_k.weight", [D]));
            k.Add((b + "norm3.weight", [D])); k.Add((b + "norm3.bias", [D]));
            foreach (var p in new[] { "q", "k", "v", "o" }) { k.Add((b + $"cross_attn.{p}.weight", [D, D])); k.Add((b + $"cross_attn.{p}.bias", [D])); }
            k.Add((b + "cross_attn.norm_q.weight", [D])); k.Add((b + "cross_attn.norm_k.weight", [D]));
            if (c.IsI2V)
            {
                k.Add((b + "cross_attn.k_img.weight", [D, D])); k.Add((b + "cross_attn.k_img.bias", [D]));
                k.Add((b + "cross_attn.v_img.weight", [D, D])); k.Add((b + "cross_attn.v_img.bias", [D]));
                k.Add((b + "cross_attn.norm_k_img.weight", [D]));
            }
            k.Add((b + "ffn.0.weight", [Fd, D])); k.Add((b + "ffn.0.bias", [Fd]));
            k.Add((b + "ffn.2.weight", [D, Fd])); k.Add((b + "ffn.2.bias", [D]));
        }
        k.Add(("head.modulation", [1, 2, D])); k.Add(("head.head.weight", [64, D])); k.Add(("head.head.bias", [64]));
        if (c.IsI2V)
        {
            k.Add(("img_emb.proj.0.weight", [1280])); k.Add(("img_emb.proj.0.bias", [1280]));
            k.Add(("img_emb.proj.1.weight", [1280, 1280])); k.Add(("img_emb.proj.1.bias", [1280]));
            k.Add(("img_emb.proj.3.weight", [D, 1280])); k.Add(("img_emb.proj.3.bias", [D]));
            k.Add(("img_emb.proj.4.weight", [D])); k.Add(("img_emb.proj.4.bias", [D]));
        }
        return k;
    }

    public static IEnumerable<object[]> Released() =>
    [
        ["T2V_1_3B", 825, 1_418_996_800L],
        ["T2V_14B", 1095, 14_288_491_584L],
        ["I2V_14B", 1303, 16_394_878_784L],
    ];

    private static WanConfig Preset(string name) => name switch
    {
        "T2V_1_3B" => WanConfig.T2V_1_3B, "T2V_14B" => WanConfig.T2V_14B, "I2V_14B" => WanConfig.I2V_14B,
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Released))]
    public void Released_config_on_meta_device_has_the_official_keys_and_shapes(string preset, int tensors, long parameters)
    {
        var cfg = Preset(preset);
        using var model = new WanModel(cfg, device: Device.Meta);
        var sd = model.state_dict();
        var spec = SpecKeys(cfg);
        Assert.Equal(tensors, spec.Count);                 // the table's own count
        Assert.Equal(tensors, sd.Count);
        Assert.Equal(spec.Select(s => s.key).OrderBy(s => s, StringComparer.Ordinal), sd.Keys.OrderBy(s => s, StringComparer.Ordinal));
        foreach (var (key, shape) in spec)
        {
            Assert.Equal(shape, sd[key].shape);
            Assert.Equal(DeviceType.Meta, sd[key].device.Type);
        }
        Assert.Equal(parameters, model.num_parameters());
    }

    [Fact]
    public void One_layer_T2V_1_3B_keys_come_in_appendix_B_order()
    {
        using var model = new WanModel(WanConfig.T2V_1_3B with { NumLayers = 1 }, device: Device.Meta);
        var spec = SpecKeys(WanConfig.T2V_1_3B with { NumLayers = 1 });   // the table is in Appendix B's order
        Assert.Equal(spec.Select(s => s.key), model.state_dict().Keys);
    }

    [Fact]
    public void Strict_loading_names_every_missing_unexpected_and_mismatched_key_with_shapes()
    {
        using var _ = torch.NewScope();
        var cfg = CaseConfig("wan_dit_t2v");
        using var model = new WanModel(cfg);
        using var file = Checkpoint.Load(TestPaths.ReferenceFile("wan_dit_t2v.weights.safetensors"));
        var weights = file.ToDictionary();
        int last = cfg.NumLayers - 1;
        long d = cfg.Dim, ffn = cfg.FfnDim, headOut = weights["head.head.bias"].size(0);
        weights.Remove($"blocks.{last}.cross_attn.norm_k.weight");
        weights["blocks.0.extra.weight"] = torch.zeros(3, 5);
        weights["blocks.0.ffn.0.weight"] = torch.zeros(ffn - 1, d);
        weights["head.head.bias"] = torch.zeros(headOut + 1);
        var before = model.blocks[0].ffn.parameters().First().data<float>();
        var e = Assert.Throws<InvalidDataException>(() => model.load_state_dict(weights, strict: true, source: "wan_dit_t2v"));
        Assert.Contains($"blocks.{last}.cross_attn.norm_k.weight [{d}]", e.Message);
        Assert.Contains("blocks.0.extra.weight [3, 5]", e.Message);
        Assert.Contains($"size mismatch for blocks.0.ffn.0.weight: checkpoint has [{ffn - 1}, {d}], model expects [{ffn}, {d}]", e.Message);
        Assert.Contains($"size mismatch for head.head.bias: checkpoint has [{headOut + 1}], model expects [{headOut}]", e.Message);
        Assert.Contains("wan_dit_t2v", e.Message);
        Assert.Equal(before, model.blocks[0].ffn.parameters().First().data<float>());   // nothing copied
    }

    [Fact]
    public void I2V_weights_do_not_load_into_a_T2V_model()
    {
        using var _ = torch.NewScope();
        var cfg = CaseConfig("wan_dit_i2v");
        using var model = new WanModel(cfg with { ModelType = "t2v" });
        using var weights = Checkpoint.Load(TestPaths.ReferenceFile("wan_dit_i2v.weights.safetensors"));
        var e = Assert.Throws<InvalidDataException>(() => model.load_state_dict(weights));
        // the image branch: k_img, v_img (weight, bias) and norm_k_img per block, and img_emb's 8 tensors (docs/wan-dit.md#checkpoints)
        int imageKeys = 5 * cfg.NumLayers + 8;
        Assert.Equal(imageKeys, weights.Keys.Count(k => k.Contains("_img") || k.StartsWith("img_emb.")));
        Assert.Contains($"unexpected keys ({imageKeys})", e.Message);
        var proj = weights["img_emb.proj.1.weight"].shape;
        Assert.Contains($"img_emb.proj.1.weight [{proj[0]}, {proj[1]}]", e.Message);
        Assert.Contains($"blocks.{cfg.NumLayers - 1}.cross_attn.norm_k_img.weight [{cfg.Dim}]", e.Message);
    }

    [Theory]
    [InlineData("wan_dit_t2v")]
    [InlineData("wan_dit_i2v")]
    public void Config_is_detected_from_checkpoint_keys(string caseName)
    {
        using var src = Checkpoint.OpenLazy(TestPaths.ReferenceFile(caseName + ".weights.safetensors"))!;
        var expected = CaseConfig(caseName);
        var detected = WanCheckpoint.DetectConfig(src.Names.ToDictionary(n => n, n => src.Info(n).Shape),
            headDim: expected.HeadDim, textLen: expected.TextLen, source: src.Source);
        Assert.Equal(expected, detected);
        using var _ = torch.NewScope();
        using var meta = new WanModel(WanConfig.I2V_14B, device: Device.Meta);
        Assert.Equal(WanConfig.I2V_14B, WanCheckpoint.DetectConfig(meta.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape)));
    }
}
