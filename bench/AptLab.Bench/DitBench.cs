using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using AptLab.Wan;
using AptLab.Wan.Pipelines;
using AptLab.Torch.IO;

namespace AptLab.Bench;

/// <summary>
/// The Wan DiT at the benchmark size (dim 512, ffn 1536, 8 heads, 8 layers, text_len 64, text_dim 512, latent
/// [1, 16, 5, 16, 24] → 5·8·12 = 480 tokens): milliseconds per inference forward (no_grad) and per forward + backward
/// (loss mean(out²)), the achieved GFLOP/s of the counted matmuls (<see cref="Flops"/>) as a fraction of the fp32
/// 1024³ matmul rate, and the same model through PyTorch (python/dit_bench.py: the DiT restated in PyTorch, loaded
/// with this model's weights, its output checked against ours). The two sides alternate round by round (best of
/// <see cref="Rounds"/>) because the machine is shared.
/// </summary>
public static class DitBench
{
    public static readonly WanConfig Config = new()
    {
        ModelType = "t2v", InDim = 16, OutDim = 16, Dim = 512, FfnDim = 1536, FreqDim = 256, NumHeads = 8, NumLayers = 8,
        TextLen = 64, TextDim = 512,
    };
    public static readonly long[] Latent = [1, 16, 5, 16, 24];
    private const int Rounds = 7, FwdCalls = 2, FwdBwdCalls = 1, MatmulCalls = 5;

    /// <summary>
    /// Multiply-adds of the matmuls and the attention products, counted as 2 FLOPs each (norms, RoPE, softmax,
    /// activations and the modulation are not counted). With L video tokens, Lt text rows, D = dim, Fd = ffn_dim,
    /// P = in_dim·pt·ph·pw, Po = out_dim·pt·ph·pw, Dt = text_dim, Df = freq_dim, N layers:
    /// <code>
    /// forward = 2·L·P·D                                   patch embedding (Conv3d, kernel = stride)
    ///         + 2·Lt·(Dt·D + D·D)                         text embedding
    ///         + 2·(Df·D + D·D + 6·D·D)                    time embedding and projection
    ///         + N·[ 8·L·D² + 4·L²·D                        self-attention: q, k, v, o; q·kᵀ and p·v
    ///             + 4·L·D² + 4·Lt·D² + 4·L·Lt·D            cross-attention: q, o; k, v on the text; q·kᵀ, p·v
    ///             + 4·L·D·Fd ]                             FFN
    ///         + 2·L·D·Po                                   head
    /// backward = 2·forward − (2·L·P·D + 2·Lt·Dt·D + 2·Df·D)
    /// </code>
    /// Backward computes, for every product, the gradients of both operands (two products of the same size) except
    /// the input gradients of the three layers that read the non-trainable inputs (latent, text, sinusoid).
    /// </summary>
    public static (double forward, double backward) Flops(WanConfig c, long[] latent)
    {
        var (pt, ph, pw) = c.PatchSize;
        double l = latent[2] / pt * (latent[3] / ph) * (latent[4] / pw), lt = c.TextLen, d = c.Dim, fd = c.FfnDim;
        double p = c.InDim * pt * ph * pw, po = c.OutDim * pt * ph * pw, dt = c.TextDim, df = c.FreqDim;
        double block = 8 * l * d * d + 4 * l * l * d + 4 * l * d * d + 4 * lt * d * d + 4 * l * lt * d + 4 * l * d * fd;
        double fwd = 2 * l * p * d + 2 * lt * (dt * d + d * d) + 2 * (df * d + d * d + 6 * d * d) + c.NumLayers * block + 2 * l * d * po;
        double bwd = 2 * fwd - (2 * l * p * d + 2 * lt * dt * d + 2 * df * d);
        return (latent[0] * fwd, latent[0] * bwd);
    }

    internal static double? LoadAverage()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }

    private static double Seconds(Action fn, int calls)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < calls; i++) fn();
        return sw.Elapsed.TotalSeconds / calls;
    }

    public static JsonNode Run(int threads)
    {
        using var scope = torch.NewScope();
        using var model = new WanModel(Config);
        using (var g = new Generator(0)) AptLab.Torch.nn.init.nontrivial_(model, g);
        using var gi = new Generator(1);
        var x = torch.randn(Latent, ScalarType.Float32, Device.CPU, gi);                       // [1, 16, 5, 16, 24]
        var t = torch.tensor(new[] { 500f });                                                 // [1]
        var ctx = torch.randn([1, Config.TextLen, Config.TextDim], ScalarType.Float32, Device.CPU, gi);   // [1, 64, 512]
        Tensor output;
        using (torch.no_grad()) output = model.forward(x, t, ctx);                            // [1, 16, 5, 16, 24]
        var parameters = model.parameters().ToArray();

        void Forward()
        {
            using var _ = torch.NewScope();
            using var ng = torch.no_grad();
            model.forward(x, t, ctx);
        }
        void ForwardBackward()
        {
            using var _ = torch.NewScope();
            model.forward(x, t, ctx).pow(2L).mean().backward();
            foreach (var p in parameters) p.grad = null;
        }
        using var a = torch.randn(1024, 1024);
        using var b = torch.randn(1024, 1024);
        void Matmul() => a.matmul(b).Dispose();

        // PyTorch side: our weights and inputs in a .pth (PthWriter), the config as JSON.
        var dir = Directory.CreateTempSubdirectory("aptlab-ditbench-");
        PythonWorker? py = null;
        JsonObject? check = null;
        try
        {
            var pth = Path.Combine(dir.FullName, "dit.pth");
            var sd = new Dictionary<string, Tensor>(model.state_dict())
            {
                ["input.x"] = x, ["input.t"] = t, ["input.context"] = ctx, ["input.out"] = output,
            };
            PthWriter.Save(pth, sd);
            File.WriteAllText(pth + ".json", JsonSerializer.Serialize(new
            {
                in_dim = Config.InDim, dim = Config.Dim, ffn_dim = Config.FfnDim, freq_dim = Config.FreqDim, text_dim = Config.TextDim,
                out_dim = Config.OutDim, heads = Config.NumHeads, layers = Config.NumLayers, text_len = Config.TextLen,
            }));
            py = PythonWorker.Start("dit_bench.py", threads.ToString());
            check = py?.Ask($"load {pth}");
            if (check is null) { py?.Dispose(); py = null; }

            // warm-up both sides, then alternate: C#, PyTorch, C#, PyTorch, ... keeping the best of each
            Forward(); ForwardBackward(); Matmul();
            py?.Ask("fwd 1"); py?.Ask("fwdbwd 1"); py?.Ask("mm 1");
            double cf = double.MaxValue, cb = double.MaxValue, cm = double.MaxValue;
            double pf = double.MaxValue, pb = double.MaxValue, pm = double.MaxValue;
            for (int r = 0; r < Rounds; r++)
            {
                cf = Math.Min(cf, Seconds(Forward, FwdCalls));
                if (py?.Ask($"fwd {FwdCalls}") is { } f) pf = Math.Min(pf, f["s"]!.GetValue<double>());
                cb = Math.Min(cb, Seconds(ForwardBackward, FwdBwdCalls));
                if (py?.Ask($"fwdbwd {FwdBwdCalls}") is { } fb) pb = Math.Min(pb, fb["s"]!.GetValue<double>());
                cm = Math.Min(cm, Seconds(Matmul, MatmulCalls));
                if (py?.Ask($"mm {MatmulCalls}") is { } m) pm = Math.Min(pm, m["s"]!.GetValue<double>());
            }

            var (ffl, bfl) = Flops(Config, Latent);
            JsonObject Side(double fwdS, double fbS, double mmS)
            {
                double rate = 2.0 * 1024 * 1024 * 1024 / mmS / 1e9;
                double gf = ffl / fwdS / 1e9, gfb = (ffl + bfl) / fbS / 1e9;
                return new JsonObject
                {
                    ["forward_ms"] = Math.Round(fwdS * 1e3, 2),
                    ["forward_backward_ms"] = Math.Round(fbS * 1e3, 2),
                    ["forward_gflops"] = Math.Round(gf, 1),
                    ["forward_backward_gflops"] = Math.Round(gfb, 1),
                    ["matmul_gflops"] = Math.Round(rate, 1),
                    ["forward_fraction_of_matmul"] = Math.Round(gf / rate, 3),
                    ["forward_backward_fraction_of_matmul"] = Math.Round(gfb / rate, 3),
                };
            }
            var result = new JsonObject
            {
                ["config"] = "dim 512, ffn 1536, 8 heads, 8 layers, text_len 64, text_dim 512, latent 16x5x16x24 (480 tokens), batch 1, fp32",
                ["gflop_forward"] = Math.Round(ffl / 1e9, 3),
                ["gflop_forward_backward"] = Math.Round((ffl + bfl) / 1e9, 3),
                ["rounds"] = Rounds,
                ["load_average_1min"] = LoadAverage(),
                ["omp_wait_policy"] = OpenMpPolicy.WaitPolicy,   // the machine is shared: the rounds alternate C# and PyTorch
                ["csharp"] = Side(cf, cb, cm),
            };
            if (py is not null && pf < double.MaxValue)
            {
                result["python"] = Side(pf, pb, pm);
                result["python"]!["output_rel_err_vs_csharp"] = check!["rel_err"]!.GetValue<double>();
                result["python"]!["torch_version"] = check["torch_version"]!.GetValue<string>();
                result["ratio_csharp_over_python"] = new JsonObject
                {
                    ["forward_ms"] = Timing.Ratio(cf, pf),
                    ["forward_backward_ms"] = Timing.Ratio(cb, pb),
                    ["matmul_time"] = Timing.Ratio(cm, pm),
                };
            }
            return result;
        }
        finally
        {
            py?.Dispose();
            try { dir.Delete(true); } catch (IOException) { }
        }
    }
}
