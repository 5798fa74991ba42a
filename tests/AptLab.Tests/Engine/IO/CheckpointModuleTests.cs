using AptLab.Torch.IO;
using AptLab.Torch.nn;

namespace AptLab.Tests.Engine.IO;

/// <summary>Checkpoints into modules: PyTorch-written weights land in a C# module, save/load round trips, and a bad
/// checkpoint leaves the module untouched.</summary>
public class CheckpointModuleTests
{
    /// <summary>The C# twin of make_pth_fixtures.py's Tiny module: same names, shapes and dtypes.</summary>
    private sealed class Tiny : Module
    {
        public readonly Linear proj;
        public Tiny()
        {
            proj = RegisterModule("proj", new Linear(3, 2));
            RegisterBuffer("w_bf16", torch.zeros([2, 3], ScalarType.BFloat16));
            RegisterBuffer("w_f16", torch.zeros([4], ScalarType.Float16));
            RegisterBuffer("w_f64", torch.zeros([2, 2], ScalarType.Float64));
            RegisterBuffer("ids", torch.zeros([2, 3], ScalarType.Int64));
            RegisterBuffer("i32", torch.zeros([3], ScalarType.Int32));
            RegisterBuffer("i16", torch.zeros([2], ScalarType.Int16));
            RegisterBuffer("i8", torch.zeros([3], ScalarType.Int8));
            RegisterBuffer("u8", torch.zeros([3], ScalarType.UInt8));
            RegisterBuffer("mask", torch.zeros([4], ScalarType.Bool));
            RegisterBuffer("scalar", torch.zeros([]));
            RegisterBuffer("empty", torch.zeros([0, 3]));
        }
    }

    [Fact]
    public void Pytorch_state_dict_loads_into_the_matching_module()
    {
        using var _ = torch.NewScope();
        using var m = new Tiny();
        var (missing, unexpected) = m.load_checkpoint(PthFixtureTests.Fixture("plain.pt"));
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        PthFixtureTests.AssertMatchesExpected(m.state_dict(), "plain", checkLayout: false);
    }

    [Theory]
    [InlineData("tiny.safetensors")]
    [InlineData("tiny.pt")]
    public void Module_round_trips_through_either_format(string name)
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        using var a = new Tiny();
        using var b = new Tiny();
        a.load_checkpoint(PthFixtureTests.Fixture("plain.pt"));
        a.save_checkpoint(dir.File(name));
        b.load_checkpoint(dir.File(name));
        foreach (var (k, t) in a.state_dict()) Assert.Equal(t.bytes(), b.state_dict()[k].bytes());
    }

    [Fact]
    public void Bad_checkpoints_leave_the_module_untouched()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        using var m = new Tiny();
        var before = m.proj.weight.data<float>();

        // Truncated file: one error naming the file.
        var good = File.ReadAllBytes(PthFixtureTests.Fixture("plain.pt"));
        File.WriteAllBytes(dir.File("cut.pt"), good[..(good.Length - 100)]);
        var e = Assert.Throws<InvalidDataException>(() => m.load_checkpoint(dir.File("cut.pt")));
        Assert.Contains("cut.pt", e.Message);
        Assert.Equal(before, m.proj.weight.data<float>());

        // Right keys but one wrong shape: load_state_dict refuses before copying anything.
        var sd = new Dictionary<string, Tensor>(m.state_dict()) { ["proj.bias"] = torch.ones(5) };
        sd["proj.weight"] = torch.full([2, 3], 9.0);
        Checkpoint.Save(dir.File("shape.safetensors"), sd);
        e = Assert.Throws<InvalidDataException>(() => m.load_checkpoint(dir.File("shape.safetensors")));
        Assert.Contains("size mismatch for proj.bias", e.Message);
        Assert.Contains("shape.safetensors", e.Message);
        Assert.Equal(before, m.proj.weight.data<float>());
    }

    [Fact]
    public void Sharded_checkpoint_streams_into_a_module_one_tensor_at_a_time()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        using var a = new Tiny();
        using var b = new Tiny();
        a.load_checkpoint(PthFixtureTests.Fixture("plain.pt"));
        var index = Safetensors.SaveSharded(dir.Path, "tiny", a.state_dict(), maxShardBytes: 24);
        Assert.True(Directory.GetFiles(dir.Path, "tiny-*-of-*.safetensors").Length > 3);

        long before = TestPaths.SettledLiveTensors();
        var (missing, unexpected) = b.load_checkpoint(index);
        Assert.Equal(before, torch.live_tensors());           // every streamed tensor was freed after its copy
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        foreach (var (k, t) in a.state_dict()) Assert.Equal(t.bytes(), b.state_dict()[k].bytes());
    }

    [Fact]
    public void Non_strict_load_reports_missing_and_unexpected_keys()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        using var m = new Tiny();
        var path = dir.File("partial.safetensors");
        Checkpoint.Save(path, new Dictionary<string, Tensor> { ["proj.bias"] = torch.full([2], 4.0), ["audio.extra"] = torch.ones(3) });
        var e = Assert.Throws<InvalidDataException>(() => m.load_checkpoint(path));
        Assert.Contains("missing keys (12)", e.Message);
        Assert.Contains("unexpected keys (1): audio.extra [3]", e.Message);
        var (missing, unexpected) = m.load_checkpoint(path, strict: false);
        Assert.Equal(12, missing.Count);
        Assert.Equal(["audio.extra"], unexpected);
        Assert.Equal(new float[] { 4, 4 }, m.proj.bias!.data<float>());
    }

    [Fact]
    public void Format_is_chosen_by_extension_then_magic()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var t = new Dictionary<string, Tensor> { ["w"] = torch.arange(3, ScalarType.Float32) };
        Checkpoint.Save(dir.File("a.safetensors"), t);
        Checkpoint.Save(dir.File("b.ckpt"), t);
        File.Copy(dir.File("a.safetensors"), dir.File("a.weights"));
        File.Copy(dir.File("b.ckpt"), dir.File("b.weights"));
        foreach (var f in new[] { "a.safetensors", "b.ckpt", "a.weights", "b.weights" })
        {
            using var sd = Checkpoint.Load(dir.File(f));
            Assert.Equal(new float[] { 0, 1, 2 }, sd["w"].data<float>());
        }
        Assert.Throws<ArgumentException>(() => Checkpoint.Save(dir.File("c.weights"), t));
        Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(dir.File("none.pt")));
    }
}
