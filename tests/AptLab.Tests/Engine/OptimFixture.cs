using System.Text.Json;
using AptLab.Torch.optim;

namespace AptLab.Tests.Engine;

/// <summary>One case of Fixtures/optim_fixtures.json (written by make_optim_fixtures.py with PyTorch 1.13).</summary>
public sealed class OptimCase
{
    public required string Name, Optimizer;
    public required Dictionary<string, double> Defaults, Overrides;
    public required int[][] Groups;
    public required long[][] Shapes;
    public required float[][] Init;
    public required float[]?[][] Grads;          // [step][param]
    public required float[][][] After;           // [step][param]
    public required Dictionary<int, Dictionary<string, JsonElement>> FinalState;

    private static readonly Lazy<Dictionary<string, OptimCase>> all = new(Load);
    public static OptimCase Get(string name) => all.Value[name];
    public static IEnumerable<object[]> Names() => all.Value.Keys.Select(k => new object[] { k });

    private static Dictionary<string, OptimCase> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("optim_fixtures.json")));
        var result = new Dictionary<string, OptimCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            static float[] F(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
            static Dictionary<string, double> D(JsonElement e) => e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            var oc = new OptimCase
            {
                Name = c.GetProperty("name").GetString()!,
                Optimizer = c.GetProperty("optimizer").GetString()!,
                Defaults = D(c.GetProperty("defaults")),
                Overrides = D(c.GetProperty("overrides")),
                Groups = c.GetProperty("groups").EnumerateArray().Select(g => g.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray(),
                Shapes = c.GetProperty("shapes").EnumerateArray().Select(g => g.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray(),
                Init = c.GetProperty("init").EnumerateArray().Select(F).ToArray(),
                Grads = c.GetProperty("grads").EnumerateArray()
                    .Select(s => s.EnumerateArray().Select(g => g.ValueKind == JsonValueKind.Null ? null : F(g)).ToArray()).ToArray(),
                After = c.GetProperty("after").EnumerateArray().Select(s => s.EnumerateArray().Select(F).ToArray()).ToArray(),
                FinalState = c.GetProperty("final_state").EnumerateObject().ToDictionary(
                    p => int.Parse(p.Name), p => p.Value.EnumerateObject().ToDictionary(q => q.Name, q => q.Value.Clone())),
            };
            result[oc.Name] = oc;
        }
        return result;
    }

    /// <summary>Fresh parameters with the initial values (owned by the caller, not by a scope).</summary>
    public Parameter[] MakeParams(int afterStep = -1) => Shapes.Select((s, i) =>
        new Parameter(torch.tensor(afterStep < 0 ? Init[i] : After[afterStep][i], s))).ToArray();

    /// <summary>The optimizer of this case over <paramref name="ps"/>, grouped as in PyTorch.</summary>
    public Optimizer MakeOptimizer(IReadOnlyList<Tensor> ps)
    {
        var groups = new[]
        {
            new ParamGroup(Groups[0].Select(i => ps[i])),
            new ParamGroup(Groups[1].Select(i => ps[i]), Overrides),
        };
        double O(string k, double dflt) => Defaults.TryGetValue(k, out var v) ? v : dflt;
        bool B(string k) => O(k, 0) != 0;
        return Optimizer switch
        {
            "SGD" => new SGD(groups, O("lr", 0), O("momentum", 0), O("dampening", 0), O("weight_decay", 0), B("nesterov")),
            "Adam" => new Adam(groups, O("lr", 1e-3), (O("beta1", 0.9), O("beta2", 0.999)), O("eps", 1e-8), O("weight_decay", 0), B("amsgrad")),
            "AdamW" => new AdamW(groups, O("lr", 1e-3), (O("beta1", 0.9), O("beta2", 0.999)), O("eps", 1e-8), O("weight_decay", 1e-2), B("amsgrad")),
            "RMSprop" => new RMSprop(groups, O("lr", 1e-2), O("alpha", 0.99), O("eps", 1e-8), O("weight_decay", 0), O("momentum", 0), B("centered")),
            _ => throw new InvalidDataException($"unknown optimizer {Optimizer} in fixture {Name}"),
        };
    }

    /// <summary>Sets the gradients of step <paramref name="k"/> (null where PyTorch had none).</summary>
    public void SetGrads(IReadOnlyList<Tensor> ps, int k)
    {
        using var _ = torch.NewScope();
        for (int i = 0; i < ps.Count; i++)
            ps[i].grad = Grads[k][i] is { } g ? torch.tensor(g, Shapes[i]) : null;
    }

    /// <summary>The parameter index PyTorch gives parameter <paramref name="param"/> (numbered in group order).</summary>
    public int StateIndexOf(int param) => Groups.SelectMany(g => g).ToList().IndexOf(param);
}
