using AptLab.Evaluation.Weights;
using AptLab.Evaluation;
using AptLab.Evaluation.Fid;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Evaluation.Networks;

public sealed class FidCaseFixture : IDisposable
{
    public EvalCase Case { get; } = new("fid_inception");
    public FidInceptionV3 Model { get; }
    public FidCaseFixture() => Model = FidWeights.Load(Case.WeightsPath);
    public void Dispose() { Model.Dispose(); Case.Dispose(); }
}

/// <summary>pytorch-fid's FID Inception-v3 (shared/reference fid_inception): pool3 and the block outputs, every
/// setting read from the case.</summary>
public class FidInceptionReferenceTests(FidCaseFixture fx, ITestOutputHelper log) : IClassFixture<FidCaseFixture>
{
    [Fact]
    public void Pool3_and_block_outputs_match_pytorch_fid()
    {
        using var _ = torch.NewScope();
        var cfg = fx.Case.Config;
        Assert.True(cfg.GetProperty("resize_input").GetBoolean() && cfg.GetProperty("normalize_input").GetBoolean());
        Assert.Equal(cfg.GetProperty("resize").EnumerateArray().Select(e => e.GetInt32()), [FidInceptionV3.InputSize, FidInceptionV3.InputSize]);
        Assert.Equal(cfg.GetProperty("features").GetInt32(), FidInceptionV3.Dims);

        var wanted = fx.Case.Debug().Select(d => d.name).ToHashSet();
        var taps = new Dictionary<string, Tensor>();
        var pool3 = fx.Model.Features(fx.Case.Io["img"], (name, t) => { if (wanted.Contains(name)) taps[name] = t.clone().DetachFromScope(); });
        EvalCase.Check(log, "pool3", pool3, fx.Case.Io["pool3"]);
        foreach (var (name, expected) in fx.Case.Debug())
        {
            Assert.True(taps.ContainsKey(name), $"no layer output named {name}");
            EvalCase.Check(log, "dbg." + name, taps[name], expected);
            taps[name].Dispose();
        }
    }

    [Fact]
    public void Checkpoint_names_are_the_cases_key_map()
    {
        foreach (var entry in fx.Case.Config.GetProperty("checkpoint_key_map").EnumerateObject())
        {
            var parts = entry.Name.Split('.');
            Assert.Equal(entry.Value.ValueKind == System.Text.Json.JsonValueKind.Null ? null : entry.Value.GetString(),
                FidInceptionV3.CheckpointNames[int.Parse(parts[1])][int.Parse(parts[2])]);
        }
        Assert.Equal(fx.Case.Config.GetProperty("checkpoint_key_map").EnumerateObject().Count(), FidInceptionV3.CheckpointNames.Sum(b => b.Length));
    }

    [Fact]
    public void Full_size_network_on_meta_has_the_reference_keys_and_the_checkpoint_names()
    {
        using var meta = new FidInceptionV3(Device.Meta);
        var file = fx.Case.WeightShapes();
        EvalCase.AssertSameKeys(meta, file);
        Assert.Equal(fx.Case.Json.GetProperty("weights").GetProperty("num_tensors").GetInt32(), file.Count);
        // Every wrapper key has a torchvision Inception3 name and maps back; the classifier is recognised and dropped.
        foreach (var k in file.Keys)
        {
            var ck = FidWeights.ToCheckpointKey(k);
            Assert.Matches(@"^(Conv2d_\d[ab]_\dx\d|Mixed_\d[a-e])\.", ck);
            Assert.Equal(k, FidWeights.ToWrapperKey(ck));
        }
        Assert.Null(FidWeights.ToWrapperKey("fc.weight"));
        Assert.Null(FidWeights.ToWrapperKey("fc.bias"));
    }

    [Fact]
    public void A_checkpoint_under_torchvision_names_with_fc_and_without_num_batches_tracked_loads_the_same_weights()
    {
        using var scope = torch.NewScope();
        var own = fx.Model.state_dict();
        var ckpt = new Dictionary<string, Tensor>();
        foreach (var (k, v) in own)
            if (!k.EndsWith("num_batches_tracked")) ckpt[FidWeights.ToCheckpointKey(k)] = v;
        ckpt["fc.weight"] = torch.zeros(1008, 2048);
        ckpt["fc.bias"] = torch.zeros(1008);
        using var model = new FidInceptionV3();
        EvaluationWeights.LoadState(model, ckpt, FidWeights.ToWrapperKey, "FID Inception-v3", "test checkpoint");
        foreach (var (k, v) in model.state_dict())
            if (!k.EndsWith("num_batches_tracked")) Assert.True(v.allclose(own[k], 0, 0), k);
    }

    [Fact]
    public void Wrong_keys_are_one_error_naming_them_and_nothing_is_copied()
    {
        using var scope = torch.NewScope();
        var own = fx.Model.state_dict();
        var bad = own.Where(kv => kv.Key != "blocks.2.0.branch1x1.conv.weight").ToDictionary(kv => kv.Key, kv => kv.Value);
        bad["Mixed_9z.conv.weight"] = torch.zeros(1);
        using var model = new FidInceptionV3();
        using var before = model.state_dict()["blocks.0.0.conv.weight"].clone();
        var e = Assert.Throws<InvalidDataException>(() => EvaluationWeights.LoadState(model, bad, FidWeights.ToWrapperKey, "FID Inception-v3", "bad.pth"));
        Assert.Contains("bad.pth", e.Message);
        Assert.Contains("blocks.2.0.branch1x1.conv.weight", e.Message);
        Assert.Contains("Mixed_9z.conv.weight", e.Message);
        Assert.True(model.state_dict()["blocks.0.0.conv.weight"].allclose(before, 0, 0));
    }
}
