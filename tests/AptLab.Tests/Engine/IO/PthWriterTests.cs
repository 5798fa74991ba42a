using System.IO.Compression;
using System.Text;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>The torch.save writer: C# reads back what it wrote, .NET's own ZipArchive accepts it (CRCs included),
/// entries are 64-byte aligned, and the output is byte-identical to Fixtures/pth/csharp_written.pt, which was
/// checked once with PyTorch 1.13.1's torch.load (make_pth_fixtures.py verify).</summary>
public class PthWriterTests
{
    /// <summary>A deterministic state dict (exact binary fractions, no RNG) of several dtypes.</summary>
    internal static Dictionary<string, Tensor> Deterministic() => new()
    {
        ["audio_proj.weight"] = (torch.arange(12, ScalarType.Float32) * 0.25 - 1.5).reshape(3, 4),
        ["audio_proj.bias"] = torch.arange(3, ScalarType.Float32) * -0.5,
        ["lora_A.weight"] = (torch.arange(6, ScalarType.Float32) * 0.125).reshape(2, 3).to(ScalarType.BFloat16),
        ["lora_B.weight"] = (torch.arange(6, ScalarType.Float32) - 2.5).reshape(3, 2).to(ScalarType.Float16),
        ["pos.ids"] = torch.arange(-2, 3, 1, ScalarType.Int64) * 1_000_000_000L,
        ["mask"] = torch.tensor(new[] { true, false, true }),
        ["scale"] = torch.tensor(0.75, ScalarType.Float64),
        ["t_view"] = torch.arange(6, ScalarType.Float32).reshape(2, 3).transpose(0, 1),  // written contiguous
    };

    [Fact]
    public void Written_pt_reads_back_bit_exactly()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var tensors = Deterministic();
        foreach (var (k, v) in SafetensorsRoundTripTests.EveryDtype()) tensors["all." + k] = v;
        var path = dir.File("pytorch_model.pt");
        Checkpoint.Save(path, tensors);
        using var sd = Checkpoint.Load(path);
        Assert.Equal(tensors.Keys, sd.Keys);                      // OrderedDict keeps the order
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, sd[k].dtype);
            Assert.Equal(t.shape, sd[k].shape);
            Assert.Equal(t.bytes(), sd[k].bytes());
            Assert.True(sd[k].is_contiguous());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Archive_is_a_valid_aligned_zip_for_an_independent_reader(bool zip64)
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var tensors = Deterministic();
        var path = dir.File("m.pt");
        PthWriter.Save(path, tensors, forceZip64: zip64);
        var raw = File.ReadAllBytes(path);

        using (var zip = ZipFile.OpenRead(path))
        {
            var names = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Equal(new[] { "archive/data.pkl" }.Concat(Enumerable.Range(0, tensors.Count).Select(i => $"archive/data/{i}"))
                .Concat(["archive/byteorder", "archive/version"]), names);
            int i = 0;
            foreach (var (_, t) in tensors)
            {
                var entry = zip.GetEntry($"archive/data/{i++}")!;
                using var s = entry.Open();
                var ms = new MemoryStream();
                s.CopyTo(ms);                                      // ZipArchive checks the CRC-32 here
                Assert.Equal(t.bytes(), ms.ToArray());
                Assert.Equal(0, DataOffset(raw, entry.FullName) % 64);
            }
            using var v = new StreamReader(zip.GetEntry("archive/version")!.Open());
            Assert.Equal("3\n", v.ReadToEnd());
        }
        using var sd = Checkpoint.Load(path);
        Assert.Equal(tensors.Count, sd.Count);
    }

    /// <summary>Data offset of an entry, from its local header (found by scanning for signature + name).</summary>
    private static long DataOffset(byte[] raw, string name)
    {
        var n = Encoding.UTF8.GetBytes(name);
        for (int p = 0; p + 30 + n.Length <= raw.Length; p++)
            if (raw[p] == 0x50 && raw[p + 1] == 0x4b && raw[p + 2] == 3 && raw[p + 3] == 4
                && BitConverter.ToUInt16(raw, p + 26) == n.Length && raw.AsSpan(p + 30, n.Length).SequenceEqual(n))
                return p + 30 + n.Length + BitConverter.ToUInt16(raw, p + 28);
        throw new InvalidOperationException($"no local header for {name}");
    }

    /// <summary>Regenerate with APTLAB_WRITE_FIXTURES=1, then verify with
    /// <c>/usr/bin/python3 Fixtures/make_pth_fixtures.py verify Fixtures/pth/csharp_written.pt Fixtures/pth/csharp_written.expected.json</c>.</summary>
    [Fact]
    public void Output_is_identical_to_the_pytorch_verified_fixture()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var fixture = PthFixtureTests.Fixture("csharp_written.pt");
        var path = Environment.GetEnvironmentVariable("APTLAB_WRITE_FIXTURES") == "1" ? fixture : dir.File("csharp_written.pt");
        Checkpoint.Save(path, Deterministic());
        Assert.Equal(File.ReadAllBytes(fixture), File.ReadAllBytes(path));

        // The expected values were written by PyTorch from torch.load of this very file.
        using var sd = Checkpoint.Load(fixture);
        PthFixtureTests.AssertMatchesExpected(sd, "csharp_written");
    }
}
