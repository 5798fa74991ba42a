using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary><see cref="Checkpoint.ReadShapes"/> (names and shapes without reading data) and
/// <see cref="Checkpoint.Load"/> with a key filter, on .pth and safetensors files.</summary>
public class CheckpointSelectTests
{
    private static Dictionary<string, Tensor> Sample()
    {
        using var g = new Generator(11);
        return new Dictionary<string, Tensor>
        {
            ["visual.a"] = torch.randn([2, 3], ScalarType.Float32, Device.CPU, g),
            ["textual.b"] = torch.randn([4], ScalarType.Float32, Device.CPU, g),
            ["log_scale"] = torch.tensor(2.5),
            ["visual.c"] = torch.randn([1, 2], ScalarType.Float32, Device.CPU, g).to(ScalarType.BFloat16),
        };
    }

    [Theory]
    [InlineData("w.pth")]
    [InlineData("w.safetensors")]
    public void Shapes_are_read_without_data_and_the_filter_reads_only_the_kept_tensors(string name)
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var sd = Sample();
        Checkpoint.Save(dir.File(name), sd);

        var shapes = Checkpoint.ReadShapes(dir.File(name));
        Assert.Equal(sd.Keys.Order(StringComparer.Ordinal), shapes.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, t) in sd) Assert.Equal(t.shape, shapes[k]);

        using var kept = Checkpoint.Load(dir.File(name), keep: k => k.StartsWith("visual."));
        Assert.Equal(["visual.a", "visual.c"], kept.Keys.Order(StringComparer.Ordinal));
        foreach (var k in kept.Keys)
        {
            Assert.Equal(sd[k].dtype, kept[k].dtype);
            Assert.Equal(0.0, (kept[k].to(ScalarType.Float64) - sd[k].to(ScalarType.Float64)).abs().max().item<double>());
        }
        using var none = Checkpoint.Load(dir.File(name), keep: _ => false);
        Assert.Empty(none);
        var missing = Assert.Throws<FileNotFoundException>(() => Checkpoint.ReadShapes(dir.File("missing-" + name)));
        Assert.Contains("missing-" + name, missing.Message);
    }
}
