using System.Numerics;
using System.Text.Json;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>torch.save files written by PyTorch 1.13.1 (Fixtures/make_pth_fixtures.py) read back with the exact values,
/// dtypes, shapes, strides, storage offsets and flags recorded next to them.</summary>
public class PthFixtureTests
{
    internal static string Fixture(string name) => TestPaths.Fixture(Path.Combine("pth", name));

    /// <summary>Compares each tensor with <c>&lt;name&gt;.expected.json</c> exactly (and, with <paramref name="checkLayout"/>,
    /// key order, strides, storage offsets, requires_grad and Parameter-ness, as torch.load returned them).</summary>
    internal static void AssertMatchesExpected(IReadOnlyDictionary<string, Tensor> tensors, string expectedName, bool checkLayout = true)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture(expectedName + ".expected.json")));
        var expected = doc.RootElement.GetProperty("tensors");
        if (checkLayout) Assert.Equal(expected.EnumerateObject().Select(p => p.Name), tensors.Keys);
        else Assert.Equal(expected.EnumerateObject().Select(p => p.Name).Order(), tensors.Keys.Order());
        foreach (var e in expected.EnumerateObject())
        {
            var t = tensors[e.Name];
            var x = e.Value;
            Assert.Equal(x.GetProperty("dtype").GetString(), t.dtype.TorchName());
            Assert.Equal(Longs(x.GetProperty("shape")), t.shape);
            if (checkLayout)
            {
                Assert.Equal(Longs(x.GetProperty("stride")), t.stride());
                Assert.Equal(x.GetProperty("storage_offset").GetInt64(), t.storage_offset());
                Assert.Equal(x.GetProperty("requires_grad").GetBoolean(), t.requires_grad);
                Assert.Equal(x.GetProperty("is_parameter").GetBoolean(), t is Parameter);
            }
            var values = x.GetProperty("values");
            if (t.dtype.IsFloatingPoint())
            {
                using var d = t.detach().to(ScalarType.Float64);
                Assert.Equal(values.EnumerateArray().Select(v => v.GetDouble()), d.data<double>());
            }
            else
            {
                using var l = t.to(ScalarType.Int64);
                Assert.Equal(Longs(values), l.data<long>());
            }
        }
    }

    private static long[] Longs(JsonElement a) => a.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    [Fact]
    public void Module_state_dict_with_every_dtype_loads_exactly()
    {
        using var _ = torch.NewScope();
        var root = PthFile.Load(Fixture("plain.pt"));
        Assert.IsType<OrderedDictionary<object, object?>>(root);
        using var sd = Checkpoint.Load(Fixture("plain.pt"));
        AssertMatchesExpected(sd, "plain");
        Assert.Equal(13, sd.Count);
        Assert.Equal(new long[] { 0, 3 }, sd["empty"].shape);
        Assert.Empty(sd["scalar"].shape);
    }

    [Fact]
    public void Nested_training_checkpoint_unwraps_state_dict_and_keeps_plain_values()
    {
        using var _ = torch.NewScope();
        using var sd = Checkpoint.LoadStateDict(Fixture("nested.pth"));
        AssertMatchesExpected(sd, "nested");
        Assert.Equal(7L, sd.Extra["step"]);
        Assert.Equal(0.0001, sd.Extra["lr"]);
        Assert.Equal("run-1", sd.Extra["name"]);
        Assert.Equal(new object?[] { 1L, 2.5, "x" }, (List<object?>)sd.Extra["history"]!);
        var cfg = (OrderedDictionary<object, object?>)sd.Extra["cfg"]!;
        Assert.Equal(1L, cfg["a"]);
        Assert.Equal(new object?[] { true, null }, (List<object?>)cfg["b"]!);
        Assert.Equal(1L << 40, sd.Extra["big"]);
        Assert.Equal(BigInteger.Pow(2, 70), sd.Extra["huge"]);
        Assert.Equal(-5L, sd.Extra["neg"]);
        Assert.Equal(new object?[] { 1L, 2L, 3L }, (object?[])sd.Extra["tup"]!);
    }

    [Fact]
    public void Views_sharing_one_storage_keep_strides_offsets_and_sharing()
    {
        using var _ = torch.NewScope();
        using var sd = Checkpoint.Load(Fixture("shared.pt"));
        AssertMatchesExpected(sd, "shared");
        Assert.Equal(new long[] { 5, 2 }, sd["view"].stride());
        Assert.Equal(5, sd["view"].storage_offset());
        Assert.Equal(new long[] { 1, 5 }, sd["tt"].stride());
        Assert.True(sd["base"].same_storage(sd["view"]));
        Assert.True(sd["base"].same_storage(sd["tt"]));
        // One storage, read once: writing through the base shows in the views, as after torch.load.
        sd["base"].fill_(1.0);
        Assert.Equal(9.0, sd["view"].sum().item<double>());
        Assert.Equal(20.0, sd["tt"].sum().item<double>());
    }

    [Fact]
    public void Parameters_come_back_as_parameters_with_their_requires_grad()
    {
        using var _ = torch.NewScope();
        using var sd = Checkpoint.Load(Fixture("param.pt"));
        AssertMatchesExpected(sd, "param");
        Assert.IsType<Parameter>(sd["p"]);
        Assert.True(sd["p"].requires_grad);
        Assert.False(sd["frozen"].requires_grad);
    }

    [Fact]
    public void Pickle_protocol_4_loads()
    {
        using var _ = torch.NewScope();
        using var sd = Checkpoint.Load(Fixture("proto4.bin"));
        AssertMatchesExpected(sd, "proto4");
    }

    [Theory]
    [InlineData("forbidden_os_system.pt", "posix.system")]
    [InlineData("forbidden_class.pt", "__main__.Custom")]
    public void Forbidden_globals_are_refused_by_name(string file, string global)
    {
        long before = TestPaths.SettledLiveTensors();
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(Fixture(file)));
        Assert.Contains($"refusing to load global '{global}'", e.Message);
        Assert.Contains(file, e.Message);
        Assert.Equal(before, torch.live_tensors());
    }

    [Theory]
    [InlineData("legacy_plain")]
    [InlineData("legacy_shared")]
    public void Legacy_format_loads_exactly(string name)
    {
        // The pre-1.6 pickle stream (torch.save(..., _use_new_zipfile_serialization=False)), the format of many
        // published checkpoints: every dtype, a BatchNorm's num_batches_tracked, views sharing one storage.
        using var _ = torch.NewScope();
        using var sd = Checkpoint.Load(Fixture(name + ".pt"));
        AssertMatchesExpected(sd, name);
        using var small = Checkpoint.Load(Fixture("legacy.pt"));
        Assert.Equal(new float[] { 1, 1 }, small["w"].data<float>());
    }

    [Fact]
    public void A_truncated_legacy_file_is_one_error_naming_it()
    {
        using var tmp = TestPaths.Temp();
        var bytes = File.ReadAllBytes(Fixture("legacy_plain.pt"));
        foreach (int keep in new[] { bytes.Length - 10, 40 })
        {
            var path = tmp.File($"cut{keep}.pt");
            File.WriteAllBytes(path, bytes[..keep]);
            long before = TestPaths.SettledLiveTensors();
            var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
            Assert.Contains($"cut{keep}.pt", e.Message);
            Assert.Equal(before, torch.live_tensors());
        }
    }
}
