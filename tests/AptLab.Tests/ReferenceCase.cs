using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests;

/// <summary>
/// One case of the numerical reference set (<see cref="TestPaths.Reference"/>): its JSON, its io tensors and its
/// weights file. A reference test takes every shape, count and setting from here (never a literal copied from the public
/// case), and accounts for every stored tensor: used as an <see cref="Input"/>, compared with <see cref="Check"/> /
/// <see cref="CheckExact"/>, or listed with <see cref="Unchecked"/> and a reason. <see cref="AssertAllAccountedFor"/>
/// fails on any tensor left over, so a case set with more outputs or intermediates cannot pass unchecked.
/// </summary>
public sealed class ReferenceCase : IDisposable
{
    public string Name { get; }
    public JsonElement Json => doc.RootElement;
    public StateDict Io { get; }
    private readonly JsonDocument doc;
    private readonly ITestOutputHelper? log;
    private readonly HashSet<string> used = new();
    private readonly Dictionary<string, string> skipped = new();

    private ReferenceCase(string name, ITestOutputHelper? log)
    {
        Name = name;
        this.log = log;
        doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(name + ".json")));
        Io = Checkpoint.Load(TestPaths.ReferenceFile(Json.TryGetProperty("io_file", out var io) ? io.GetString()! : name + ".io.safetensors"));
        // the JSON documents every stored tensor with its shape
        if (Json.TryGetProperty("tensors", out var tensors))
        {
            var documented = tensors.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
            Assert.Equal(documented.Keys.Order(StringComparer.Ordinal), Io.Keys.Order(StringComparer.Ordinal));
            foreach (var (k, v) in documented)
                if (v.TryGetProperty("shape", out var shape))
                    Assert.Equal(shape.EnumerateArray().Select(e => e.GetInt64()).ToArray(), Io[k].shape);
        }
    }

    public static ReferenceCase Open(string name, ITestOutputHelper? log = null) => new(name, log);

    /// <summary>The weights file of the case (or of the case whose weights it reuses).</summary>
    public string WeightsPath => TestPaths.ReferenceFile(
        Json.TryGetProperty("weights_file", out var w) ? w.GetString()! :
        Json.TryGetProperty("weights_file_used", out var u) ? u.GetString()! : Name + ".weights.safetensors");

    public JsonElement Config => Json.GetProperty("config");

    /// <summary>A stored tensor used as an input (or as a given, e.g. a scheduler's values fed back).</summary>
    public Tensor Input(string name)
    {
        used.Add(name);
        return Io[name];
    }

    /// <summary>The names of the stored tensors matching <paramref name="pattern"/>, with the pattern's first group
    /// as an integer (e.g. <c>dbg\.block(\d+)_out</c>), in index order.</summary>
    public IReadOnlyList<(string name, int index)> Indexed(string pattern) =>
        Io.Keys.Select(k => (k, m: Regex.Match(k, "^" + pattern + "$"))).Where(t => t.m.Success)
            .Select(t => (t.k, int.Parse(t.m.Groups[1].Value, CultureInfo.InvariantCulture))).OrderBy(t => t.Item2).ToList();

    /// <summary>||actual - stored|| / ||stored|| over the whole tensor, below <paramref name="tol"/> (shapes equal).</summary>
    public double Check(string name, Tensor actual, double tol = 1e-4)
    {
        double err = RelErr(actual, Io[name]);
        log?.WriteLine($"{Name} {name}: rel err {err:E2}");
        Assert.True(err < tol, $"{Name} {name}: relative error {err:E3} exceeds {tol:E0}");
        used.Add(name);
        return err;
    }

    /// <summary>Exact equality with the stored tensor (integer-valued tensors stored as F32).</summary>
    public void CheckExact(string name, Tensor actual)
    {
        using var _ = torch.NewScope();
        var e = Io[name];
        Assert.Equal(e.shape, actual.shape);
        Assert.True(actual.to(ScalarType.Float64).eq(e.to(ScalarType.Float64)).all().item<bool>(), $"{Name} {name}: not exactly equal");
        used.Add(name);
    }

    /// <summary>A stored tensor that this test leaves out on purpose (the reason says where it is checked, or why not).</summary>
    public void Unchecked(string name, string reason)
    {
        Assert.True(Io.ContainsKey(name), $"{Name}: '{name}' listed as unchecked is not stored");
        Assert.False(string.IsNullOrWhiteSpace(reason));
        skipped[name] = reason;
    }

    /// <summary>Fails naming every stored tensor that was neither an input, nor checked, nor listed as unchecked.</summary>
    public void AssertAllAccountedFor()
    {
        var left = Io.Keys.Where(k => !used.Contains(k) && !skipped.ContainsKey(k)).ToList();
        Assert.True(left.Count == 0, $"{Name}: stored tensors left unchecked: {string.Join(", ", left)}");
    }

    /// <summary>Group 1.. of <paramref name="pattern"/> in a string of the JSON (a call or a loop written out by the
    /// generator); fails naming the pattern if the text does not contain it.</summary>
    public static string[] Parse(string text, string pattern)
    {
        var m = Regex.Match(text, pattern);
        Assert.True(m.Success, $"'{pattern}' not found in: {text}");
        return m.Groups.Cast<Group>().Skip(1).Select(g => g.Value).ToArray();
    }

    public static double Number(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>||a - b|| / ||b|| over the full tensors, in float64 (shapes must be equal).</summary>
    public static double RelErr(Tensor actual, Tensor expected)
    {
        using var _ = torch.NewScope();
        Assert.Equal(expected.shape, actual.shape);
        var a = actual.detach().to(ScalarType.Float64);
        var e = expected.detach().to(ScalarType.Float64);
        double den = e.norm().item<double>(), num = (a - e).norm().item<double>();
        return den == 0 ? num : num / den;
    }

    public void Dispose()
    {
        Io.Dispose();
        doc.Dispose();
    }
}
