using System.Text.Json.Nodes;
using AptLab.Apt;
using AptLab.Wan;
using AptLab.Torch.nn;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Bench;

/// <summary>
/// One DiT training step (flow-matching forward, backward, AdamW) at the DitBench size (dim 512, 8 layers, 480 tokens,
/// batch 1, gradient checkpointing off) in fp32 and in bf16-mixed (bf16 compute copies of float32 masters: the casts
/// of the weights after the step, float32 gradient accumulation), through <see cref="ReplicatedModule"/>, best of
/// <see cref="Rounds"/> alternating rounds. On a CPU without bf16 matrix units bf16 is emulated and slower; the point
/// of bf16-mixed is memory and GPU speed, this measures what the policy costs here.
/// </summary>
public static class PrecisionBench
{
    private const int Rounds = 3, Warmup = 1;

    public static JsonNode Run(int threads)
    {
        var result = new JsonObject { ["config"] = "DitBench (dim 512, ffn 1536, 8 layers, 480 tokens, batch 1); AdamW" };
        var seconds = new Dictionary<Precision, double>();
        var losses = new Dictionary<Precision, double>();
        var steppers = new[] { Precision.Fp32, Precision.Bf16Mixed }.ToDictionary(p => p, p => new Stepper(p));
        try
        {
            foreach (var s in steppers.Values) for (int i = 0; i < Warmup; i++) s.Step();
            for (int r = 0; r < Rounds; r++)
                foreach (var (p, s) in steppers)
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    losses[p] = s.Step();
                    seconds[p] = Math.Min(seconds.GetValueOrDefault(p, double.MaxValue), sw.Elapsed.TotalSeconds);
                }
        }
        finally { foreach (var s in steppers.Values) s.Dispose(); }
        result["fp32_step_ms"] = Math.Round(seconds[Precision.Fp32] * 1e3, 1);
        result["bf16_mixed_step_ms"] = Math.Round(seconds[Precision.Bf16Mixed] * 1e3, 1);
        result["ratio_bf16_mixed_over_fp32"] = Math.Round(seconds[Precision.Bf16Mixed] / seconds[Precision.Fp32], 3);
        result["last_loss_fp32"] = Math.Round(losses[Precision.Fp32], 6);
        result["last_loss_bf16_mixed"] = Math.Round(losses[Precision.Bf16Mixed], 6);
        return result;
    }

    // A DitBench model under one precision, stepping on the same fixed batch.
    private sealed class Stepper : IDisposable
    {
        private readonly WanFlowModel model;
        private readonly ReplicatedModule wrapped;
        private readonly AdamW opt;
        private readonly Tensor x0, eps, sigma;
        private readonly Conditioning c;

        public Stepper(Precision p)
        {
            model = new WanFlowModel(new WanModel(DitBench.Config));
            using (var g = new Generator(0)) init.nontrivial_(model.Net, g);
            wrapped = new ReplicatedModule(model.Module, p);
            opt = new AdamW(wrapped.parameters(), lr: 1e-5);
            using var gi = new Generator(1);
            x0 = torch.randn(DitBench.Latent, generator: gi).DetachFromScope();
            eps = torch.randn(DitBench.Latent, generator: gi).DetachFromScope();
            sigma = torch.full([1], 0.6).DetachFromScope();
            c = new Conditioning(torch.randn([1, DitBench.Config.TextLen, DitBench.Config.TextDim], generator: gi).DetachFromScope());
        }

        public double Step()
        {
            using var scope = torch.NewScope();
            var xs = x0 * 0.4 + eps * 0.6;
            var loss = F.mse_loss(model.Velocity(xs, sigma, c).to(ScalarType.Float32), eps - x0);
            wrapped.backward(loss);
            wrapped.step(opt);
            wrapped.zero_grad();
            return loss.item<double>();
        }

        public void Dispose()
        {
            opt.Dispose();
            wrapped.Dispose();
            model.Dispose();
            foreach (var t in new[] { x0, eps, sigma, c.Context }) t.Dispose();
        }
    }
}
