using AptLab.Human.Training;
using AptLab.Torch.nn;
using AptLab.Training;

namespace AptLab.Tests.Training;

/// <summary>
/// The step every fine-tune shares (<see cref="FineTuning.TrainStep"/>) against its closed form on a quadratic:
/// micro-batch m's loss is |W - T_m|² + |b - u_m|² on a Linear's weight W and bias b, so the accumulated gradient is
/// 2 (θ - mean_m target_m), the step's loss the mean of the micro-batch losses, and AdamW's first update
/// θ (1 - lr·wd) - lr·g/(|g| + eps) with g the clipped gradient (g·c/(|g| + 1e-6) when |g| > c). The learning rates of a
/// linear warmup, the step a divergence is reported at, and the shared settings' bounds are pinned too.
/// </summary>
public class FineTuningTests
{
    private static readonly double[][] TargetsW = [[1, -2, 0.5, 3, 0, -1], [0, 1, 1, -1, 2, 2], [2, 0, -0.5, 1, 1, 0]];
    private static readonly double[][] TargetsB = [[0.5, -0.5], [1, 1], [-1, 0]];

    private static (Linear Model, FineTuning Run) Build(HumanTrainerSettings s)
    {
        var m = new Linear(3, 2, dtype: ScalarType.Float64);
        using (torch.no_grad())
        {
            m.weight.copy_(torch.tensor(new double[] { 0.3, -0.1, 0.2, 0.4, -0.5, 0.6 }, 2, 3));
            m.bias!.copy_(torch.tensor(new double[] { 0.05, -0.2 }, 2));
        }
        var trainable = new List<(string, Parameter)> { ("weight", m.weight), ("bias", m.bias) };
        return (m, new FineTuning("ft", m, trainable, s.Validate(), 1, null, AptLab.Training.Precision.Fp32, ParallelMode.Ddp, n => n));
    }

    private static Tensor MicroLoss(Linear m, int i) =>
        (m.weight.reshape(-1) - torch.tensor(TargetsW[i], 6)).square().sum() + (m.bias! - torch.tensor(TargetsB[i], 2)).square().sum();

    private static double[] Mean(double[][] rows, int n) =>
        Enumerable.Range(0, rows[0].Length).Select(j => rows.Take(n).Average(r => r[j])).ToArray();

    [Theory]
    [InlineData(3, 0.0)]       // no clipping
    [InlineData(3, 0.5)]       // clipped (the gradient's norm is ~9)
    [InlineData(1, 100.0)]     // one micro-batch, clip bound not reached
    public void One_step_is_the_closed_form_of_accumulation_clipping_and_AdamW(int acc, double clip)
    {
        const double lr = 0.05, eps = 0.5, wd = 0.1;
        var (m, run) = Build(new HumanTrainerSettings { Lr = lr, Eps = eps, WeightDecay = wd, Accumulation = acc, MaxGradNorm = clip });
        using var _m = m;
        using var _r = run;
        double[] w0 = m.weight.data<double>().ToArray(), b0 = m.bias!.data<double>().ToArray();
        double[] tw = Mean(TargetsW, acc), tb = Mean(TargetsB, acc);
        var g = w0.Select((w, j) => 2 * (w - tw[j])).Concat(b0.Select((b, j) => 2 * (b - tb[j]))).ToArray();
        double norm = Math.Sqrt(g.Sum(x => x * x));
        double loss = Enumerable.Range(0, acc).Average(i =>
            w0.Select((w, j) => Math.Pow(w - TargetsW[i][j], 2)).Sum() + b0.Select((b, j) => Math.Pow(b - TargetsB[i][j], 2)).Sum());
        var seen = new List<int>();
        var r = run.TrainStep(i => { seen.Add(i); return MicroLoss(m, i); });
        Assert.Equal(Enumerable.Range(0, acc), seen);
        Assert.Equal(loss, r.Loss, 10);
        Assert.Equal(norm, r.GradNorm, 10);                                       // before clipping
        Assert.Equal(norm, Math.Sqrt(r.GroupGradNorms.Values.Sum(x => x * x)), 10);
        Assert.Equal(["bias", "weight"], r.GroupGradNorms.Keys.Order());
        Assert.Equal(lr, r.Lr, 12);
        Assert.Equal(1, run.Step);
        double coef = clip > 0 ? Math.Min(1, clip / (norm + 1e-6)) : 1;
        var theta = w0.Concat(b0).ToArray();
        var expected = theta.Select((t, j) => t * (1 - lr * wd) - lr * g[j] * coef / (Math.Abs(g[j] * coef) + eps)).ToArray();
        var actual = m.weight.data<double>().Concat(m.bias.data<double>()).ToArray();
        for (int j = 0; j < expected.Length; j++) Assert.Equal(expected[j], actual[j], 10);
        Assert.All(new[] { m.weight, m.bias }, p => Assert.True(p.grad is null || p.grad.abs().max().item<double>() == 0));   // zeroed after the step
    }

    [Fact]
    public void A_linear_warmup_starts_at_zero_and_reaches_the_base_lr()
    {
        var (m, run) = Build(new HumanTrainerSettings { Lr = 0.02, WarmupSteps = 4 });
        using var _m = m;
        using var _r = run;
        var lrs = Enumerable.Range(0, 6).Select(_ => run.TrainStep(i => MicroLoss(m, i)).Lr).ToArray();
        Assert.Equal(new[] { 0, 0.005, 0.01, 0.015, 0.02, 0.02 }, lrs.Select(x => Math.Round(x, 12)));
    }

    [Fact]
    public void A_non_finite_loss_stops_the_run_at_its_step_before_the_update()
    {
        var (m, run) = Build(new HumanTrainerSettings { Lr = 0.05 });
        using var _m = m;
        using var _r = run;
        run.TrainStep(i => MicroLoss(m, i));
        var w = m.weight.data<double>().ToArray();
        var e = Assert.Throws<NonFiniteException>(() => run.TrainStep(i => MicroLoss(m, i) * double.NaN));
        Assert.StartsWith("ft step 2: loss is ", e.Message);
        Assert.Equal(w, m.weight.data<double>());
    }

    [Theory]
    [InlineData("Lr", 0.0, "must be positive")]
    [InlineData("Lr", double.NaN, "must be a finite number")]
    [InlineData("Beta1", 1.0, "must lie in [0, 1)")]
    [InlineData("Beta1", -0.1, "must lie in [0, 1)")]
    [InlineData("Beta2", 1.0, "must lie in [0, 1)")]
    [InlineData("Beta2", -0.1, "must lie in [0, 1)")]
    [InlineData("Eps", 0.0, "must be positive")]
    [InlineData("WeightDecay", -0.01, "must be >= 0")]
    [InlineData("MaxGradNorm", -1.0, "must be >= 0")]
    [InlineData("Shift", 0.0, "must be positive")]
    [InlineData("WarmupSteps", -1.0, "must be >= 0")]
    [InlineData("MicroBatch", 0.0, "must be >= 1")]
    [InlineData("Accumulation", 0.0, "must be >= 1")]
    public void The_shared_settings_refuse_values_outside_their_bounds(string key, double value, string why)
    {
        var e = Assert.Throws<ArgumentException>(() => With(key, value).Validate());
        Assert.StartsWith($"HumanTrainerSettings.{(key.StartsWith("Beta") ? "Betas" : key)}: {why}", e.Message);
    }

    [Theory]
    [InlineData("Beta1", 0.0)]
    [InlineData("Beta2", 0.0)]
    [InlineData("WeightDecay", 0.0)]
    [InlineData("MaxGradNorm", 0.0)]
    [InlineData("WarmupSteps", 0.0)]
    [InlineData("MicroBatch", 1.0)]
    [InlineData("Accumulation", 1.0)]
    [InlineData("Lr", 1e-12)]
    public void The_bounds_themselves_are_accepted(string key, double value) => With(key, value).Validate();

    private static HumanTrainerSettings With(string key, double v) => key switch
    {
        "Lr" => new() { Lr = v }, "Beta1" => new() { Beta1 = v }, "Beta2" => new() { Beta2 = v }, "Eps" => new() { Eps = v },
        "WeightDecay" => new() { WeightDecay = v }, "MaxGradNorm" => new() { MaxGradNorm = v }, "Shift" => new() { Shift = v },
        "WarmupSteps" => new() { WarmupSteps = (int)v }, "MicroBatch" => new() { MicroBatch = (int)v },
        "Accumulation" => new() { Accumulation = (int)v }, _ => throw new ArgumentException(key),
    };
}
