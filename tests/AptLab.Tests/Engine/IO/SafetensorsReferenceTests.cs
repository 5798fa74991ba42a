using System.Text.Json;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>Every shared reference safetensors file loads with the shapes, counts and statistics its case JSON records.</summary>
public class SafetensorsReferenceTests
{
    public static TheoryData<string> Cases() => new()
    {
        "wan_dit_t2v", "wan_dit_i2v", "omniavatar_dit", "wan_vae", "t5_encoder", "wav2vec2", "sampler_e2e",
    };

    /// <summary>The format tag of the case set (the wan_dit_t2v io file's); every file of the set must carry the same.</summary>
    private static string SetFormat
    {
        get
        {
            using var f = Safetensors.Open(TestPaths.ReferenceFile("wan_dit_t2v.io.safetensors"));
            var format = f.Metadata["format"];
            Assert.False(string.IsNullOrWhiteSpace(format));
            return format;
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void Io_file_matches_recorded_shapes_and_statistics(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(name + ".json")));
        var expected = doc.RootElement.GetProperty("tensors");
        using var _ = torch.NewScope();
        using var sd = Safetensors.Load(TestPaths.ReferenceFile(name + ".io.safetensors"));
        Assert.Equal(expected.EnumerateObject().Count(), sd.Count);
        Assert.Equal(SetFormat, sd.Metadata["format"]);                    // one format tag for the whole case set
        Assert.Equal(name, sd.Metadata["case"]);
        foreach (var e in expected.EnumerateObject())
        {
            var t = sd[e.Name];
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.Equal(e.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), t.shape);
            var v = t.data<float>();
            double maxAbs = v.Length == 0 ? 0 : v.Max(x => Math.Abs((double)x));
            double mean = v.Average(x => (double)x);
            double refMax = e.Value.GetProperty("max_abs").GetDouble(), refMean = e.Value.GetProperty("mean").GetDouble();
            Assert.True(Math.Abs(maxAbs - refMax) <= 1e-6 * Math.Abs(refMax), $"{name}/{e.Name} max_abs {maxAbs} vs {refMax}");
            Assert.True(Math.Abs(mean - refMean) <= 1e-6 * Math.Max(Math.Abs(refMean), 1e-6 * refMax), $"{name}/{e.Name} mean {mean} vs {refMean}");
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void Weights_file_has_recorded_tensor_and_parameter_counts_and_exact_bytes(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(name + ".json")));
        if (!doc.RootElement.TryGetProperty("weights", out var w)) return;   // sampler_e2e reuses wan_dit_t2v's weights
        var path = TestPaths.ReferenceFile(name + ".weights.safetensors");
        using var f = Safetensors.Open(path);
        Assert.Equal(SetFormat, f.Metadata["format"]);
        Assert.Equal(w.GetProperty("num_tensors").GetInt32(), f.Count);
        Assert.Equal(w.GetProperty("num_params").GetInt64(), f.Tensors.Sum(t => t.Numel));

        // Compare every tensor's bytes with the file bytes located by an independent minimal header parse.
        var raw = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(raw, 0);
        using var header = JsonDocument.Parse(raw.AsMemory(8, (int)n));
        using var _ = torch.NewScope();
        foreach (var e in header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var off = e.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var expected = raw.AsSpan((int)(8 + n + off[0]), (int)(off[1] - off[0])).ToArray();
            Assert.Equal(expected, f.Load(e.Name).bytes());
        }
        // Names come in header order (the module's state_dict order).
        Assert.Equal(header.RootElement.EnumerateObject().Select(p => p.Name).Where(k => k != "__metadata__"), f.Names);
    }
}
