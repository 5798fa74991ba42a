using System.Text.Json.Nodes;
using AptLab.Torch.nn;

namespace AptLab.Bench;

/// <summary>Dispatch overhead, matmul rate and a small MLP training step through the binding, with the same
/// three through PyTorch (python/engine_bench.py) for comparison.</summary>
public static class EngineBench
{
    public static JsonNode Run(int threads)
    {
        torch.manual_seed(0);

        // Per-op overhead: a 16-element add, result freed each iteration (as Python's refcount does).
        using var a = torch.ones(16);
        using var b = torch.ones(16);
        for (int i = 0; i < 20000; i++) (a + b).Dispose();
        double addUs = Timing.BestOf(() => (a + b).Dispose(), 7, 20000) * 1e6;

        // Matmul rate, fp32 1024^3.
        const int n = 1024;
        using var x = torch.randn(n, n);
        using var y = torch.randn(n, n);
        for (int i = 0; i < 3; i++) x.matmul(y).Dispose();
        double mmS = Timing.BestOf(() => x.matmul(y).Dispose(), 5, 5);
        double gflops = 2.0 * n * n * n / mmS / 1e9;

        // A small MLP training step (3 x Linear(512, 512), GELU, MSE, SGD update), one scope per step.
        const int width = 512, batch = 64;
        const double lr = 1e-3;
        var layers = Enumerable.Range(0, 3).Select(_ => new Linear(width, width)).ToArray();
        var parameters = layers.SelectMany(l => l.parameters()).ToArray();
        using var input = torch.randn(batch, width);
        using var target = torch.randn(batch, width);
        void Step()
        {
            using var _ = torch.NewScope();
            var h = input;
            for (int i = 0; i < layers.Length; i++)
            {
                h = layers[i].forward(h);
                if (i < layers.Length - 1) h = F.gelu(h);
            }
            F.mse_loss(h, target).backward();
            using var ng = torch.no_grad();
            foreach (var p in parameters)
            {
                p.add_(p.grad!, -lr);
                p.grad = null;
            }
        }
        for (int i = 0; i < 20; i++) Step();
        double mlpMs = Timing.BestOf(Step, 5, 50) * 1e3;
        foreach (var l in layers) l.Dispose();

        var result = new JsonObject
        {
            ["add_us"] = Math.Round(addUs, 3),
            ["matmul_gflops"] = Math.Round(gflops, 1),
            ["mlp_step_ms"] = Math.Round(mlpMs, 3),
        };
        var py = Timing.Python("engine_bench.py", threads.ToString());
        if (py is not null)
        {
            result["python"] = py;
            result["ratio_csharp_over_python"] = new JsonObject
            {
                ["add_us"] = Timing.Ratio(addUs, py["add_us"]!.GetValue<double>()),
                ["matmul_time"] = Timing.Ratio(gflops, py["matmul_gflops"]!.GetValue<double>(), rate: true),
                ["mlp_step_ms"] = Timing.Ratio(mlpMs, py["mlp_step_ms"]!.GetValue<double>()),
            };
        }
        return result;
    }
}
