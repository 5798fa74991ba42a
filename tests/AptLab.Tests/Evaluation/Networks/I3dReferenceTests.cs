using AptLab.Evaluation.Fvd;
using Xunit.Abstractions;

namespace AptLab.Tests.Evaluation.Networks;

public sealed class I3dCaseFixture : IDisposable
{
    public EvalCase Case { get; } = new("i3d");
    public InceptionI3d Model { get; }
    public I3dCaseFixture() => Model = I3dWeights.Load(Case.WeightsPath);
    public void Dispose() { Model.Dispose(); Case.Dispose(); }
}

/// <summary>piergiaj's InceptionI3d(400) (shared/reference i3d): logits, pooled features and endpoint outputs.</summary>
public class I3dReferenceTests(I3dCaseFixture fx, ITestOutputHelper log) : IClassFixture<I3dCaseFixture>
{
    [Fact]
    public void Logits_features_and_endpoints_match_the_official_network()
    {
        using var _ = torch.NewScope();
        Assert.Equal(fx.Case.Config.GetProperty("num_classes").GetInt64(), fx.Model.numClasses);
        var wanted = fx.Case.Debug().Select(d => d.name).ToHashSet();
        var taps = new Dictionary<string, Tensor>();
        var (features, logits) = fx.Model.Run(fx.Case.Io["video"], (name, t) => { if (wanted.Contains(name)) taps[name] = t.clone().DetachFromScope(); });
        EvalCase.Check(log, "logits", logits, fx.Case.Io["logits"]);
        EvalCase.Check(log, "features", features, fx.Case.Io["features"]);
        foreach (var (name, expected) in fx.Case.Debug())
        {
            Assert.True(taps.ContainsKey(name), $"no endpoint named {name}");
            EvalCase.Check(log, "dbg." + name, taps[name], expected);
            taps[name].Dispose();
        }
    }

    [Fact]
    public void Full_size_network_on_meta_has_the_reference_keys()
    {
        using var meta = new InceptionI3d(fx.Case.Config.GetProperty("num_classes").GetInt64(), fx.Case.Config.GetProperty("in_channels").GetInt64(), Device.Meta);
        var file = fx.Case.WeightShapes();
        EvalCase.AssertSameKeys(meta, file);
        Assert.Equal(fx.Case.Json.GetProperty("weights").GetProperty("num_tensors").GetInt32(), file.Count);
    }

    [Fact]
    public void Same_padding_puts_the_odd_element_at_the_end_and_gives_ceil_sizes()
    {
        // kernel 3, stride 2 on 5 elements: 5 % 2 = 1 -> pad max(3 - 1, 0) = 2 -> 1 front, 1 back; on 4: pad 1 -> 0 front, 1 back.
        Assert.Equal(2, SamePadding.Total(5, 3, 2));
        Assert.Equal(1, SamePadding.Total(4, 3, 2));
        using var x = torch.arange(1, 5, dtype: ScalarType.Float32).view(1, 1, 1, 1, 4);     // W = 1 2 3 4
        using var p = SamePadding.Pad(x, [1, 1, 3], [1, 1, 2]);
        Assert.Equal(new float[] { 1, 2, 3, 4, 0 }, p.data<float>());
        using var y = new MaxPool3dSamePadding([1, 1, 3], [1, 1, 2]).forward(x);
        Assert.Equal(new float[] { 3, 4 }, y.data<float>());                 // windows [1 2 3], [3 4 0]
    }

    [Fact]
    public void Clips_the_final_pool_cannot_take_are_refused_before_any_work()
    {
        var e = Assert.Throws<ArgumentException>(() => InceptionI3d.CheckInput(torch.zeros([1, 3, 8, 224, 224], device: Device.Meta)));
        Assert.Contains("T=8", e.Message);
        Assert.Throws<ArgumentException>(() => InceptionI3d.CheckInput(torch.zeros([1, 3, 16, 192, 224], device: Device.Meta)));
        InceptionI3d.CheckInput(torch.zeros([1, 3, 16, 224, 224], device: Device.Meta));
        InceptionI3d.CheckInput(torch.zeros([1, 3, 9, 193, 193], device: Device.Meta));
    }
}
