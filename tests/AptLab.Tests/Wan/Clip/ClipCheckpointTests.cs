using AptLab.Torch.IO;
using AptLab.Wan.Clip;

namespace AptLab.Tests.Wan.Clip;

/// <summary>Loading the vision tower from CLIP checkpoints laid out as the released file (visual.* + the text tower +
/// log_scale, written with the engine's torch.save writer), in fp32 and bf16, as safetensors with DiffSynth's prefix,
/// and the errors for keys that do not match.</summary>
public class ClipCheckpointTests
{
    private static readonly ClipConfig Cfg = ClipConfig.Tiny;

    /// <summary>A random tiny encoder (seeded) and its weights in the released layout: visual.* from the encoder, the
    /// text tower's keys and log_scale with the shapes of <see cref="Cfg"/>'s text config.</summary>
    private static (ClipImageEncoder enc, Dictionary<string, Tensor> file) Released(ulong seed)
    {
        using var g = new Generator(seed);
        var enc = new ClipImageEncoder(Cfg.Vision, generator: g);
        using (torch.no_grad())
            foreach (var p in enc.parameters()) p.normal_(0, 0.2, g);
        var file = new Dictionary<string, Tensor>();
        foreach (var (k, t) in enc.state_dict()) file[k] = t.detach().clone();
        foreach (var (k, shape) in Cfg.NonVisualShapes()) file[k] = torch.randn(shape, ScalarType.Float32, Device.CPU, g);
        return (enc, file);
    }

    /// <summary>Same shape and dtype, every element equal.</summary>
    internal static bool Same(Tensor a, Tensor b)
    {
        using var _ = torch.NewScope();
        return a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype
            && (a.numel() == 0 || (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>() == 0);
    }

    private static void AssertSameWeights(ClipImageEncoder expected, ClipImageEncoder actual, ScalarType? roundedTo = null)
    {
        var a = actual.state_dict();
        foreach (var (k, t) in expected.state_dict())
        {
            using var _ = torch.NewScope();
            var want = roundedTo is ScalarType r ? t.to(r).to(a[k].dtype) : t;
            Assert.True(Same(want, a[k]), $"{k} differs");
        }
    }

    [Fact]
    public void Released_pth_layout_loads_the_visual_part_and_skips_the_text_tower()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var (src, file) = Released(5);
        using (src)
        {
            PthWriter.Save(dir.File("clip.pth"), file);
            var shapes = Checkpoint.ReadShapes(dir.File("clip.pth"));
            Assert.Equal(file.Count, shapes.Count);
            Assert.Contains("textual.blocks.0.attn.q.weight", shapes.Keys);
            Assert.Empty(shapes["log_scale"]);

            using var loaded = ClipImageEncoder.FromCheckpoint(dir.File("clip.pth"), Cfg);
            AssertSameWeights(src, loaded);
            using var img = torch.rand([3, 40, 52]) * 2 - 1;
            Assert.True(Same(src.Encode(img), loaded.Encode(img)));
        }
    }

    [Fact]
    public void Bf16_checkpoint_loads_its_rounded_values_in_fp32_or_bf16()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var (src, file) = Released(6);
        using (src)
        {
            PthWriter.Save(dir.File("clip-bf16.pth"), file.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16)));
            using var f32 = ClipImageEncoder.FromCheckpoint(dir.File("clip-bf16.pth"), Cfg);
            AssertSameWeights(src, f32, roundedTo: ScalarType.BFloat16);
            using var bf16 = ClipImageEncoder.FromCheckpoint(dir.File("clip-bf16.pth"), Cfg, ScalarType.BFloat16);
            Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
            AssertSameWeights(src, bf16, roundedTo: ScalarType.BFloat16);
            // bf16 compute (norms in float32) stays close to the fp32 features of the same weights.
            using var img = torch.rand([3, 28, 28]) * 2 - 1;
            var a = f32.Encode(img);
            var b = bf16.Encode(img);
            Assert.Equal(ScalarType.Float32, b.dtype);
            Assert.True(WanTestUtil.RelErr(b, a) < 2e-2, $"bf16 vs fp32 rel err {WanTestUtil.RelErr(b, a)}");
        }
    }

    [Fact]
    public void Safetensors_with_diffsynth_prefix_and_without_the_text_tower_loads()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var (src, file) = Released(7);
        using (src)
        {
            var visualOnly = file.Where(kv => kv.Key.StartsWith("visual.")).ToDictionary(kv => ClipCheckpoint.DiffSynthPrefix + kv.Key, kv => kv.Value);
            Checkpoint.Save(dir.File("clip.safetensors"), visualOnly);
            using var loaded = ClipImageEncoder.FromCheckpoint(dir.File("clip.safetensors"), Cfg);
            AssertSameWeights(src, loaded);
        }
    }

    [Fact]
    public void Keys_that_do_not_match_are_one_error_naming_the_file_keys_and_shapes_and_nothing_is_copied()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var (src, file) = Released(8);
        using var target = new ClipImageEncoder(Cfg.Vision);
        var before = target.visual.pos_embedding.detach().clone();
        using (src)
        {
            file["visual.transformer.0.attn.extra"] = torch.zeros(3);
            file["lora_A.weight"] = torch.zeros(2, 4);
            file.Remove("visual.head");
            file["textual.norm.weight"] = torch.zeros(17);
            file["visual.transformer.1.mlp.0.weight"] = torch.zeros(5, 32);
            PthWriter.Save(dir.File("bad.pth"), file);
            var e = Assert.Throws<InvalidDataException>(() => ClipCheckpoint.LoadVisual(target, dir.File("bad.pth"), Cfg));
            Assert.Contains(dir.File("bad.pth"), e.Message);
            Assert.Contains("unexpected keys (2)", e.Message);
            Assert.Contains("visual.transformer.0.attn.extra [3]", e.Message);
            Assert.Contains("lora_A.weight [2, 4]", e.Message);
            Assert.Contains("missing vision keys (1): visual.head [32, 16]", e.Message);
            Assert.Contains("textual.norm.weight: checkpoint has [17], the text tower of this config has [16]", e.Message);
            Assert.Contains("visual.transformer.1.mlp.0.weight: checkpoint has [5, 32], the model expects [128, 32]", e.Message);
            Assert.Equal(1, e.Message.Split('\n').Count(l => l.Contains("not the CLIP checkpoint")));   // one error
            Assert.True(Same(before, target.visual.pos_embedding));                            // nothing copied
        }
    }

    [Fact]
    public void A_dit_checkpoint_is_rejected_with_a_short_list_and_a_missing_file_is_named()
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            ClipImageEncoder.FromCheckpoint(TestPaths.ReferenceFile("wan_dit_t2v.weights.safetensors"), Cfg));
        Assert.Contains("missing vision keys", e.Message);
        Assert.Contains($"cls_embedding [1, 1, {Cfg.Vision.Dim}]", e.Message);
        var ditPatch = Checkpoint.ReadShapes(TestPaths.ReferenceFile("wan_dit_t2v.weights.safetensors"))["patch_embedding.weight"];
        Assert.Contains($"patch_embedding.weight: checkpoint has [{string.Join(", ", ditPatch)}]", e.Message);
        Assert.Contains("more", e.Message);                                    // long lists are cut, not dumped
        Assert.True(e.Message.Length < 4000, $"error message of {e.Message.Length} characters");
        using var dir = TestPaths.Temp();
        var f = Assert.Throws<FileNotFoundException>(() => ClipImageEncoder.FromCheckpoint(dir.File("none.pth"), Cfg));
        Assert.Contains(dir.File("none.pth"), f.Message);
    }
}
