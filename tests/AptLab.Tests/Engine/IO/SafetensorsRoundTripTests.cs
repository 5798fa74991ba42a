using System.Text.Json;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

public class SafetensorsRoundTripTests
{
    /// <summary>One tensor of every supported dtype, plus a scalar and an empty tensor.</summary>
    internal static Dictionary<string, Tensor> EveryDtype()
    {
        var g = new Generator(7);
        return new Dictionary<string, Tensor>
        {
            ["f64"] = torch.randn([3, 2], ScalarType.Float64, generator: g),
            ["f32"] = torch.randn([2, 3, 4], generator: g),
            ["f16"] = torch.randn([5], generator: g).to(ScalarType.Float16),
            ["bf16"] = torch.randn([4, 3], generator: g).to(ScalarType.BFloat16),
            ["i64"] = torch.tensor(new long[] { long.MinValue, -1, 0, 1L << 40, long.MaxValue }),
            ["i32"] = torch.tensor(new[] { int.MinValue, -7, int.MaxValue }),
            ["i16"] = torch.tensor(new short[] { short.MinValue, 3, short.MaxValue }),
            ["i8"] = torch.tensor(new sbyte[] { -128, 0, 127 }),
            ["u8"] = torch.tensor(new byte[] { 0, 200, 255 }),
            ["bool"] = torch.tensor(new[] { true, false, true, true }, 2, 2),
            ["scalar"] = torch.tensor(3.25),
            ["empty"] = torch.zeros([0, 3]),
            ["strided"] = torch.arange(12, ScalarType.Float32).reshape(3, 4).transpose(0, 1),   // non-contiguous input
        };
    }

    [Fact]
    public void Every_dtype_round_trips_bit_exactly_with_metadata()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var tensors = EveryDtype();
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓" };
        var path = dir.File("all.safetensors");
        Safetensors.Save(path, tensors, meta);

        using var sd = Safetensors.Load(path);
        Assert.Equal(tensors.Count, sd.Count);
        Assert.Equal(meta, sd.Metadata);
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, sd[k].dtype);
            Assert.Equal(t.shape, sd[k].shape);
            Assert.Equal(t.bytes(), sd[k].bytes());
        }
        Assert.Equal(new float[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, sd["strided"].data<float>());
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void Writer_orders_by_alignment_then_name_and_pads_header_to_8()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var path = dir.File("order.safetensors");
        Safetensors.Save(path, EveryDtype(), new Dictionary<string, string> { ["k"] = "v" });

        var raw = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(raw, 0);
        Assert.Equal(0, n % 8);
        Assert.Equal((byte)' ', raw[8 + n - 1]);
        using var header = JsonDocument.Parse(raw.AsMemory(8, (int)n));
        var keys = header.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["__metadata__", "f64", "i64", "empty", "f32", "i32", "scalar", "strided", "bf16", "f16", "i16", "bool", "i8", "u8"], keys);
        // Offsets tile the buffer in that order.
        long expect = 0;
        foreach (var p in header.RootElement.EnumerateObject().Skip(1))
        {
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            Assert.Equal(expect, off[0]);
            expect = off[1];
        }
        Assert.Equal(raw.Length - 8 - n, expect);
    }

    [Fact]
    public void Open_is_lazy_and_lists_names_dtypes_shapes()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var path = dir.File("lazy.safetensors");
        Safetensors.Save(path, EveryDtype());
        long before = TestPaths.SettledLiveTensors();
        using var f = Safetensors.Open(path);
        Assert.Equal(before, torch.live_tensors());        // opening creates no tensor
        Assert.Equal("BF16", f.Info("bf16").Dtype);
        Assert.Equal(ScalarType.BFloat16, f.Info("bf16").ScalarType);
        Assert.Equal(new long[] { 4, 3 }, f.Info("bf16").Shape);
        Assert.Equal(24, f.Info("bf16").NumBytes);
        using var one = f.Load("i64");
        Assert.Equal(new long[] { long.MinValue, -1, 0, 1L << 40, long.MaxValue }, one.data<long>());
        Assert.Equal(before + 1, torch.live_tensors());
        var e = Assert.Throws<KeyNotFoundException>(() => f.Load("nope"));
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public void Sharded_round_trip_writes_hf_index_and_loads_lazily()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var g = new Generator(3);
        var tensors = new Dictionary<string, Tensor>();
        for (int i = 0; i < 6; i++) tensors[$"blocks.{i}.weight"] = torch.randn([10, 10], generator: g);   // 400 bytes each
        tensors["head.bias"] = torch.randn([10], ScalarType.Float64, generator: g).to(ScalarType.BFloat16);
        var index = Safetensors.SaveSharded(dir.Path, "diffusion_pytorch_model", tensors, maxShardBytes: 1000,
            metadata: new Dictionary<string, string> { ["format"] = "pt" });

        Assert.Equal(dir.File("diffusion_pytorch_model.safetensors.index.json"), index);
        var shards = Directory.GetFiles(dir.Path, "*.safetensors").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["diffusion_pytorch_model-00001-of-00003.safetensors", "diffusion_pytorch_model-00002-of-00003.safetensors",
            "diffusion_pytorch_model-00003-of-00003.safetensors"], shards);
        using (var doc = JsonDocument.Parse(File.ReadAllText(index)))
        {
            Assert.Equal(6 * 400 + 20, doc.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
            var map = doc.RootElement.GetProperty("weight_map");
            Assert.Equal("diffusion_pytorch_model-00001-of-00003.safetensors", map.GetProperty("blocks.1.weight").GetString());
            Assert.Equal("diffusion_pytorch_model-00003-of-00003.safetensors", map.GetProperty("head.bias").GetString());
        }

        using (var lazy = Safetensors.OpenSharded(index))
        {
            Assert.Equal(7, lazy.Count);
            Assert.Equal(3, lazy.Shards.Count);
            Assert.Equal(new long[] { 10, 10 }, lazy.Info("blocks.5.weight").Shape);
        }
        using var sd = Checkpoint.Load(index);
        Assert.Equal(7, sd.Count);
        foreach (var (k, t) in tensors) Assert.Equal(t.bytes(), sd[k].bytes());
        Assert.Equal("pt", sd.Metadata["format"]);
        // A folder holding one index loads the same way.
        using var viaFolder = Checkpoint.Load(dir.Path);
        Assert.Equal(sd.Keys.Order(), viaFolder.Keys.Order());
    }

    [Fact]
    public void Sharding_into_one_shard_writes_a_plain_file()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var path = Safetensors.SaveSharded(dir.Path, "model", new Dictionary<string, Tensor> { ["w"] = torch.ones(4) }, 1 << 20);
        Assert.Equal(dir.File("model.safetensors"), path);
        Assert.False(File.Exists(dir.File("model.safetensors.index.json")));
        using var sd = Checkpoint.Load(path);
        Assert.Equal(new float[] { 1, 1, 1, 1 }, sd["w"].data<float>());
    }
}
