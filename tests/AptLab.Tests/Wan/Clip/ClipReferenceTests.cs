using System.Text.Json;
using System.Text.RegularExpressions;
using AptLab.Torch.IO;
using AptLab.Wan.Clip;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan.Clip;

/// <summary>
/// The official <c>CLIPModel.visual</c> (shared/reference wan_clip): every stored tensor (the resized and normalised
/// pixels, the patch tokens, the block inputs and outputs, the features) reproduced to ||x − ref|| / ||ref|| &lt; 1e-4.
/// Every size and setting comes from the case's JSON, so any case of the same generator passes.
/// </summary>
public class ClipReferenceTests(ITestOutputHelper log)
{
    private const string Case = "wan_clip";
    private const double Tol = 1e-4;

    private void Check(string name, Tensor got, Tensor expected, ISet<string> done)
    {
        double err = RelErr(got, expected);
        log.WriteLine($"{name}: rel err {err:E2}  {Fmt(expected.shape)}");
        Assert.True(err < Tol, $"{name}: relative error {err:E3} exceeds {Tol:E0}");
        done.Add(name);
    }

    private static string Fmt(long[] s) => "[" + string.Join(", ", s) + "]";

    /// <summary>The case's tower config, preprocessing, and the use_31_block block list, read from the JSON.</summary>
    internal static (ClipVisionConfig vision, ClipPreprocess pre, int[] blocksUsed, JsonElement weights) ReadCase()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(Case + ".json")));
        var root = doc.RootElement;
        var vision = ClipVisionConfig.FromJson(root.GetProperty("config"), Case + ".json");
        var p = root.GetProperty("preprocess");
        // The case's resize must be the one ClipPreprocess implements: bicubic, no align_corners, no antialias.
        Assert.Equal("bicubic", p.GetProperty("interpolation").GetString());
        Assert.False(p.GetProperty("align_corners").GetBoolean());
        Assert.False(p.GetProperty("antialias").GetBoolean());
        var size = p.GetProperty("resize").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal([vision.ImageSize, vision.ImageSize], size);
        var pre = new ClipPreprocess(size[0],
            p.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            p.GetProperty("std").EnumerateArray().Select(e => e.GetSingle()).ToArray());
        var blocks = root.GetProperty("use_31_block").GetProperty("blocks_used").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        return (vision, pre, blocks, root.GetProperty("weights").Clone());
    }

    [Fact]
    public void Reproduces_every_tensor_of_the_wan_clip_case()
    {
        using var _ = torch.NewScope();
        using var noGrad = torch.no_grad();
        var (vision, pre, blocksUsed, weightsInfo) = ReadCase();
        // use_31_block = every block but the last, as the case records it.
        Assert.Equal(Enumerable.Range(0, vision.NumLayers - 1), blocksUsed);
        // The official mean/std are what the encoder uses by default.
        Assert.Equal(ClipPreprocess.OpenAIMean, pre.Mean);
        Assert.Equal(ClipPreprocess.OpenAIStd, pre.Std);

        var weightsPath = TestPaths.ReferenceFile(Case + ".weights.safetensors");
        using var enc = new ClipImageEncoder(vision, preprocess: pre);
        ClipCheckpoint.LoadVisual(enc, weightsPath, new ClipConfig(vision, ClipTextConfig.Tiny with { OutDim = vision.OutDim }));
        enc.eval();
        using (var file = Checkpoint.Load(weightsPath))
        {
            Assert.Equal(file.Keys, enc.visual.state_dict().Keys);   // same keys, same order as the official module
            Assert.Equal(weightsInfo.GetProperty("num_tensors").GetInt32(), file.Count);
        }
        Assert.Equal(weightsInfo.GetProperty("num_params").GetInt64(), enc.num_parameters());

        using var io = Checkpoint.Load(TestPaths.ReferenceFile(Case + ".io.safetensors"));
        var img = io["img"];                                                     // [3, H, W] in [-1, 1]
        var done = new HashSet<string> { "img" };

        var resized = pre.Resize(img);
        Check("dbg.resized", resized, io["dbg.resized"], done);
        var pixels = pre.Normalize(resized);
        Check("dbg.pixels", pixels, io["dbg.pixels"], done);
        Check("dbg.patch_embedding", enc.visual.PatchTokens(pixels), io["dbg.patch_embedding"], done);
        var h = enc.visual.Embed(pixels);
        Check("dbg.pre_norm", h, io["dbg.pre_norm"], done);
        var blockOut = new Regex(@"^dbg\.block(\d+)_out$");
        foreach (int i in blocksUsed)
        {
            h = enc.visual.transformer[i].forward(h);
            if (io.ContainsKey($"dbg.block{i}_out")) Check($"dbg.block{i}_out", h, io[$"dbg.block{i}_out"], done);
        }
        Check("out", enc.Encode(img), io["out"], done);
        Assert.Equal(0.0, MaxAbs(h, enc.Encode(img)));                 // Encode = preprocess + the used blocks

        // Every tensor of the case was compared (a new intermediate in a regenerated case is not silently skipped).
        Assert.Equal(io.Keys.OrderBy(k => k, StringComparer.Ordinal), done.OrderBy(k => k, StringComparer.Ordinal));
        Assert.All(io.Keys.Where(k => blockOut.IsMatch(k)), k => Assert.Contains(int.Parse(blockOut.Match(k).Groups[1].Value), blocksUsed));
    }

    [Fact]
    public void Running_the_last_block_or_the_post_norm_would_miss_the_reference()
    {
        // The case's features are the residual stream after block n-2: all blocks, or a final LayerNorm, change them.
        using var _ = torch.NewScope();
        using var noGrad = torch.no_grad();
        var (vision, pre, _, _) = ReadCase();
        using var enc = new ClipImageEncoder(vision, preprocess: pre);
        ClipCheckpoint.LoadVisual(enc, TestPaths.ReferenceFile(Case + ".weights.safetensors"),
            new ClipConfig(vision, ClipTextConfig.Tiny with { OutDim = vision.OutDim }));
        using var io = Checkpoint.Load(TestPaths.ReferenceFile(Case + ".io.safetensors"));
        var pixels = pre.Pixels(io["img"]);
        var all = enc.visual.forward(pixels, use31Block: false);
        var normed = enc.visual.post_norm.forward(enc.visual.forward(pixels, use31Block: true));
        Assert.True(RelErr(all, io["out"]) > 1e-2);
        Assert.True(RelErr(normed, io["out"]) > 1e-2);
    }

    private static double MaxAbs(Tensor a, Tensor b)
    {
        using var _ = torch.NewScope();
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }
}
