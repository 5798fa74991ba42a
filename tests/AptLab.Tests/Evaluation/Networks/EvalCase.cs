using System.Text.Json;
using AptLab.Torch.IO;
using AptLab.Torch.nn;
using Xunit.Abstractions;

namespace AptLab.Tests.Evaluation.Networks;

/// <summary>One evaluation reference case of shared/reference: its JSON, its io tensors and its weights file.</summary>
public sealed class EvalCase : IDisposable
{
    public string Name { get; }
    public JsonElement Json { get; }
    public StateDict Io { get; }
    public string WeightsPath { get; }
    private readonly JsonDocument doc;

    public EvalCase(string name)
    {
        Name = name;
        doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(name + ".json")));
        Json = doc.RootElement;
        Io = Checkpoint.Load(TestPaths.ReferenceFile(Json.GetProperty("io_file").GetString()!));
        WeightsPath = TestPaths.ReferenceFile(Json.GetProperty("weights_file").GetString()!);
    }

    public JsonElement Config => Json.GetProperty("config");

    /// <summary>The io tensors named dbg.* (intermediates), by their suffix.</summary>
    public IEnumerable<(string name, Tensor value)> Debug() =>
        Io.Where(kv => kv.Key.StartsWith("dbg.", StringComparison.Ordinal)).Select(kv => (kv.Key[4..], kv.Value));

    /// <summary>The weights file's tensor names and shapes, read from the header only.</summary>
    public Dictionary<string, long[]> WeightShapes()
    {
        using var f = SafetensorsFile.Open(WeightsPath);
        return f.Tensors.ToDictionary(t => t.Name, t => t.Shape);
    }

    public void Dispose()
    {
        Io.Dispose();
        doc.Dispose();
    }

    public static double RelErr(Tensor got, Tensor expected)
    {
        using var _ = torch.NewScope();
        Assert.Equal(expected.shape, got.shape);
        var g = got.to(ScalarType.Float64);
        var e = expected.to(ScalarType.Float64);
        return (g - e).norm().item<double>() / e.norm().item<double>();
    }

    public static void Check(ITestOutputHelper log, string name, Tensor got, Tensor expected, double tol = 1e-4)
    {
        double err = RelErr(got, expected);
        log.WriteLine($"{name}: rel err {err:E2}");
        Assert.True(err < tol, $"{name}: relative error {err:E3} exceeds {tol:E0}");
    }

    /// <summary>The module's state-dict names and shapes equal the weights file's (the real architecture).</summary>
    public static void AssertSameKeys(Module module, Dictionary<string, long[]> file)
    {
        var own = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        var missing = file.Keys.Except(own.Keys).ToList();
        var extra = own.Keys.Except(file.Keys).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"keys differ: not in the module: {string.Join(", ", missing.Take(10))}; not in the file: {string.Join(", ", extra.Take(10))}");
        foreach (var (k, s) in file) Assert.True(s.SequenceEqual(own[k]), $"{k}: file [{string.Join(", ", s)}], module [{string.Join(", ", own[k])}]");
    }
}
