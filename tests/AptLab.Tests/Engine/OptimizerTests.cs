using AptLab.Torch.optim;

namespace AptLab.Tests.Engine;

public class OptimizerTests
{
    public static IEnumerable<object[]> Cases() => OptimCase.Names();

    internal static void AssertClose(float[] expected, float[] actual, string what, double rtol = 1e-6, double atol = 1e-7)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            Assert.True(Math.Abs(a - e) <= rtol * Math.Abs(e) + atol, $"{what}[{i}]: expected {e:R}, got {a:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_step_matches_pytorch_1_13(string name)
    {
        var c = OptimCase.Get(name);
        var ps = c.MakeParams();
        using var opt = c.MakeOptimizer(ps);
        for (int k = 0; k < c.After.Length; k++)
        {
            using var _ = torch.NewScope();   // step() inside a training-step scope, as in real use
            c.SetGrads(ps, k);
            opt.step();
            for (int i = 0; i < ps.Length; i++) AssertClose(c.After[k][i], ps[i].data<float>(), $"{name} step {k + 1} p{i}");
        }
        // The state has PyTorch's names and values; p3 never had a gradient and has no state.
        using (var scope = torch.NewScope())
        {
            var sd = opt.state_dict();
            var expectedKeys = c.FinalState.SelectMany(kv => kv.Value.Keys.Select(k => $"state.{kv.Key}.{k}"))
                .Where(k => c.Optimizer != "SGD" || !k.EndsWith(".step")).OrderBy(k => k).ToList();
            Assert.Equal(expectedKeys, sd.Keys.Where(k => k.StartsWith("state.")).OrderBy(k => k).ToList());
            foreach (var (idx, entries) in c.FinalState)
                foreach (var (key, value) in entries)
                {
                    if (!sd.TryGetValue($"state.{idx}.{key}", out var t)) continue;
                    if (value.ValueKind == System.Text.Json.JsonValueKind.Number) Assert.Equal(value.GetDouble(), t.item<double>());
                    else AssertClose(value.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray(), t.data<float>(), $"{name} state.{idx}.{key}");
                }
            Assert.Null(opt.StateOf(ps[3]));
        }
        foreach (var p in ps) p.Dispose();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void State_dict_round_trip_continues_identically(string name)
    {
        var c = OptimCase.Get(name);
        const int split = 2;
        var ps = c.MakeParams();
        var opt = c.MakeOptimizer(ps);
        for (int k = 0; k < split; k++) { c.SetGrads(ps, k); opt.step(); }

        // Save, then rebuild parameters and optimizer from scratch (as a resumed run does) and load.
        var saved = new Dictionary<string, Tensor>();
        using (var scope = torch.NewScope())
            foreach (var (k, t) in opt.state_dict()) saved[k] = t.clone().DetachFromScope();
        opt.Dispose();
        foreach (var p in ps) p.Dispose();

        var resumed = c.MakeParams(afterStep: split - 1);
        using var opt2 = c.MakeOptimizer(resumed);
        if (c.Optimizer != "SGD") opt2.param_groups[0].lr = 123;           // restored from the state dict
        opt2.load_state_dict(saved, source: "test");
        foreach (var t in saved.Values) t.Dispose();
        Assert.Equal(c.Defaults.GetValueOrDefault("lr", c.Optimizer == "RMSprop" ? 1e-2 : 1e-3), opt2.param_groups[0].lr);
        for (int k = split; k < c.After.Length; k++)
        {
            c.SetGrads(resumed, k);
            opt2.step();
            for (int i = 0; i < resumed.Length; i++) AssertClose(c.After[k][i], resumed[i].data<float>(), $"{name} resumed step {k + 1} p{i}");
        }
        foreach (var p in resumed) p.Dispose();
    }

    [Fact]
    public void Adam_and_AdamW_first_step_match_the_closed_form()
    {
        // After one step the bias-corrected moments are g and g^2: p1 = p0 - lr * g / (|g| + eps), and AdamW first
        // multiplies p0 by (1 - lr * wd); Adam with L2 uses g + wd * p0 instead of g.
        double lr = 0.1, wd = 0.5, eps = 1e-8;
        double[] p0 = [1.5, -2.0, 0.25], g = [0.3, 0.7, -4.0];
        using var _ = torch.NewScope();
        foreach (var kind in new[] { "Adam", "AdamL2", "AdamW" })
        {
            using var p = new Parameter(torch.tensor(p0));
            p.grad = torch.tensor(g);
            using Optimizer opt = kind switch
            {
                "Adam" => new Adam([p], lr: lr, eps: eps),
                "AdamL2" => new Adam([p], lr: lr, eps: eps, weight_decay: wd),
                _ => new AdamW([p], lr: lr, eps: eps, weight_decay: wd),
            };
            opt.step();
            var got = p.data<double>();
            for (int i = 0; i < 3; i++)
            {
                double gi = kind == "AdamL2" ? g[i] + wd * p0[i] : g[i];
                double start = kind == "AdamW" ? p0[i] * (1 - lr * wd) : p0[i];
                Assert.Equal(start - lr * gi / (Math.Abs(gi) + eps), got[i], 12);
            }
            Assert.Equal(1, opt.StateOf(p)!.step);
        }
    }

    [Fact]
    public void SGD_momentum_and_nesterov_match_hand_computation()
    {
        // Two steps with g1, g2: buf1 = g1, buf2 = m * g1 + (1 - d) * g2.
        double lr = 0.1, m = 0.9, d = 0.2;
        using var _ = torch.NewScope();
        using var p = new Parameter(torch.tensor(new double[] { 1.0 }));
        using var q = new Parameter(torch.tensor(new double[] { 1.0 }));
        using var sgd = new SGD([p], lr, momentum: m, dampening: d);
        using var nest = new SGD([q], lr, momentum: m, nesterov: true);
        double g1 = 2.0, g2 = -1.0;
        p.grad = torch.tensor(new[] { g1 }); q.grad = torch.tensor(new[] { g1 });
        sgd.step(); nest.step();
        Assert.Equal(1 - lr * g1, p.item<double>(), 14);
        Assert.Equal(1 - lr * (g1 + m * g1), q.item<double>(), 14);
        p.grad = torch.tensor(new[] { g2 }); q.grad = torch.tensor(new[] { g2 });
        sgd.step(); nest.step();
        double buf2 = m * g1 + (1 - d) * g2, nbuf2 = m * g1 + g2;
        Assert.Equal(1 - lr * g1 - lr * buf2, p.item<double>(), 14);
        Assert.Equal(1 - lr * (g1 + m * g1) - lr * (g2 + m * nbuf2), q.item<double>(), 14);
    }

    [Fact]
    public void RMSprop_first_step_matches_the_closed_form()
    {
        // square_avg = (1 - alpha) g^2, so p1 = p0 - lr * g / (sqrt(1 - alpha) |g| + eps).
        double lr = 0.01, alpha = 0.9, eps = 1e-8;
        using var _ = torch.NewScope();
        using var p = new Parameter(torch.tensor(new double[] { 0.5, -1 }));
        p.grad = torch.tensor(new double[] { 3, -0.5 });
        using var opt = new RMSprop([p], lr, alpha, eps);
        opt.step();
        Assert.Equal(0.5 - lr * 3 / (Math.Sqrt(1 - alpha) * 3 + eps), p.data<double>()[0], 12);
        Assert.Equal(-1 + lr * 0.5 / (Math.Sqrt(1 - alpha) * 0.5 + eps), p.data<double>()[1], 12);
    }

    [Fact]
    public void Zero_grad_clears_to_none_or_zeros()
    {
        using var _ = torch.NewScope();
        using var p = new Parameter(torch.ones(3));
        using var opt = new SGD([p], 0.1);
        p.grad = torch.ones(3);
        opt.zero_grad(set_to_none: false);
        Assert.Equal(new float[] { 0, 0, 0 }, p.grad!.data<float>());
        opt.zero_grad();
        Assert.Null(p.grad);
    }

    [Fact]
    public void Step_frees_its_temporaries_and_keeps_only_its_state()
    {
        using var p = new Parameter(torch.randn(8, 8));
        using var opt = new AdamW([p], amsgrad: true);
        using (torch.NewScope()) { p.grad = torch.randn(8, 8); }
        long before = TestPaths.SettledLiveTensors();
        using (torch.NewScope()) opt.step();
        Assert.Equal(before + 3, torch.live_tensors());        // exp_avg, exp_avg_sq, max_exp_avg_sq
        using (torch.NewScope()) opt.step();
        Assert.Equal(before + 3, torch.live_tensors());
    }

    [Fact]
    public void Bad_options_and_state_dicts_give_errors_naming_the_key()
    {
        using var _ = torch.NewScope();
        using var p = new Parameter(torch.ones(2, 3));
        var e1 = Assert.Throws<ArgumentException>(() => new AdamW([new ParamGroup([p], new Dictionary<string, double> { ["momentum"] = 0.9 })]));
        Assert.Contains("'momentum'", e1.Message);
        Assert.Contains("nesterov", Assert.Throws<ArgumentException>(() => new SGD([p], 0.1, nesterov: true)).Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("lr=-1", Assert.Throws<ArgumentException>(() => new Adam([p], lr: -1)).Message);
        Assert.Contains("more than one", Assert.Throws<ArgumentException>(() => new SGD([p, p], 0.1)).Message);

        using var opt = new Adam([p]);
        p.grad = torch.ones(2, 3);
        opt.step();
        var sd = opt.state_dict();
        sd["state.0.exp_avg"] = torch.zeros(3);
        var e2 = Assert.Throws<InvalidDataException>(() => opt.load_state_dict(sd, "ckpt.safetensors"));
        Assert.Contains("state.0.exp_avg", e2.Message);
        Assert.Contains("ckpt.safetensors", e2.Message);
        sd = opt.state_dict();
        sd["state.5.exp_avg"] = torch.zeros(2, 3);
        Assert.Contains("state.5.exp_avg", Assert.Throws<InvalidDataException>(() => opt.load_state_dict(sd)).Message);
        sd = opt.state_dict();
        sd.Remove("param_groups.0.eps");
        Assert.Contains("param_groups.0.eps", Assert.Throws<InvalidDataException>(() => opt.load_state_dict(sd)).Message);
        Assert.Equal(1, opt.StateOf(p)!.step);                  // failed loads changed nothing
    }
}
