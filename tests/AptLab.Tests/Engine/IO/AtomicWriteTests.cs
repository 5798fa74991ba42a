using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>A write that fails midway leaves the previous file byte-for-byte intact and no temporary file.</summary>
public class AtomicWriteTests
{
    /// <summary>A state dict whose second tensor (in write order) throws when its data is read: a meta tensor has a
    /// shape and dtype (so headers get written) but no data.</summary>
    private static Dictionary<string, Tensor> FailingMidway() => new()
    {
        ["a.first"] = torch.randn([64, 64]),
        ["z.broken"] = torch.empty([8], ScalarType.Float32, Device.Meta),
    };

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("pytorch_model.pt")]
    public void Failed_write_keeps_previous_file_intact(string name)
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var path = dir.File(name);
        Checkpoint.Save(path, new Dictionary<string, Tensor> { ["w"] = torch.arange(5, ScalarType.Float32) });
        var before = File.ReadAllBytes(path);

        var e = Assert.Throws<IOException>(() => Checkpoint.Save(path, FailingMidway()));
        Assert.Contains(path, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([name], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        using var sd = Checkpoint.Load(path);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4 }, sd["w"].data<float>());
    }

    [Fact]
    public void Failed_sharded_write_keeps_previous_shards_and_index()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var good = new Dictionary<string, Tensor> { ["a"] = torch.ones(100), ["b"] = torch.full([100], 2.0) };
        var index = Safetensors.SaveSharded(dir.Path, "model", good, maxShardBytes: 400);
        var snapshot = Directory.GetFiles(dir.Path).Order().Select(f => (f, File.ReadAllBytes(f))).ToList();

        var bad = new Dictionary<string, Tensor> { ["a"] = torch.zeros(100), ["z"] = torch.empty([100], ScalarType.Float32, Device.Meta) };
        Assert.Throws<IOException>(() => Safetensors.SaveSharded(dir.Path, "model", bad, maxShardBytes: 400));
        Assert.Equal(snapshot.Select(s => s.f), Directory.GetFiles(dir.Path).Order());
        foreach (var (f, bytes) in snapshot) Assert.Equal(bytes, File.ReadAllBytes(f));
        using var sd = Checkpoint.Load(index);
        Assert.Equal(200.0, sd["b"].sum().item<double>());
    }
}
