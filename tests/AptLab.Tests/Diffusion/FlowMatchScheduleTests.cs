using System.Text.Json;
using AptLab.Diffusion;
using Xunit.Abstractions;

namespace AptLab.Tests.Diffusion;

/// <summary>Every schedule of the flow_match reference case (official OmniAvatar / Wan scheduler output).</summary>
public class FlowMatchScheduleTests(ITestOutputHelper log)
{
    private static readonly JsonElement Ref = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile("flow_match.json"))).RootElement;

    private static double[] D(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
    private static long[] L(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    private static double MaxRel(IReadOnlyList<double> actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Count);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double den = Math.Max(Math.Abs(expected[i]), 1e-30);
            worst = Math.Max(worst, expected[i] == 0 ? Math.Abs(actual[i]) : Math.Abs(actual[i] - expected[i]) / den);
        }
        return worst;
    }

    [Fact]
    public void OmniAvatar_euler_inference_schedules_match()
    {
        var entries = Ref.GetProperty("omniavatar").GetProperty("inference").EnumerateArray().ToList();
        Assert.NotEmpty(entries);
        double worst = 0;
        foreach (var e in entries)
        {
            int n = e.GetProperty("num_inference_steps").GetInt32();
            double shift = e.GetProperty("shift").GetDouble();
            Assert.Equal("float32", e.GetProperty("dtype").GetString());
            var s = OmniAvatarScheduler();
            s.SetTimesteps(n, shift);
            var sig = s.Sigmas.Select(v => (double)v).ToList();
            Assert.Equal(n + 1, sig.Count);
            Assert.Equal(0.0, sig[^1]);
            double es = MaxRel(sig.Take(n).ToList(), D(e.GetProperty("sigmas")));
            double et = MaxRel(s.Timesteps, D(e.GetProperty("timesteps")));
            var dt = Enumerable.Range(0, n).Select(i => (double)(s.Sigmas[i + 1] - s.Sigmas[i])).ToList();
            double ed = MaxRel(dt, D(e.GetProperty("euler_dt")));
            worst = Math.Max(worst, Math.Max(es, Math.Max(et, ed)));
            Assert.True(es <= 1e-6 && et <= 1e-6 && ed <= 1e-6, $"N={n} shift={shift}: sigmas {es}, timesteps {et}, dt {ed}");
        }
        log.WriteLine($"OmniAvatar Euler: worst relative error over sigmas/timesteps/dt = {worst:E2}");
    }

    /// <summary>The scheduler of the case's constructor call, e.g. "FlowMatchScheduler(shift=5, sigma_min=0.0, extra_one_step=True)".</summary>
    private static FlowMatchScheduler OmniAvatarScheduler()
    {
        var a = ReferenceCase.Parse(Ref.GetProperty("omniavatar").GetProperty("constructor").GetString()!,
            @"FlowMatchScheduler\(shift=([0-9.]+), sigma_min=([0-9.]+), extra_one_step=(True|False)\)");
        return new FlowMatchScheduler(shift: ReferenceCase.Number(a[0]), sigmaMin: ReferenceCase.Number(a[1]), extraOneStep: a[2] == "True");
    }

    [Fact]
    public void Training_grid_and_weights_match()
    {
        var tr = Ref.GetProperty("omniavatar").GetProperty("training");
        int n = int.Parse(ReferenceCase.Parse(tr.GetProperty("call").GetString()!, @"set_timesteps\((\d+), training=True\)")[0]);
        var s = OmniAvatarScheduler();
        s.SetTimesteps(n, training: true);
        double es = MaxRel(s.Sigmas.Take(n).Select(v => (double)v).ToList(), D(tr.GetProperty("sigmas")));
        double et = MaxRel(s.Timesteps, D(tr.GetProperty("timesteps")));
        var w = D(tr.GetProperty("linear_timesteps_weights"));
        var mine = s.TrainingWeights.Select(v => (double)v).ToList();
        Assert.Equal(w.Length, mine.Count);
        double ew = Enumerable.Range(0, n).Max(i => Math.Abs(mine[i] - w[i])) / w.Max();
        log.WriteLine($"training ({n}): sigmas {es:E2}, timesteps {et:E2}, weights (max abs / max) {ew:E2}");
        Assert.True(es <= 1e-6 && et <= 1e-6, $"sigmas {es}, timesteps {et}");
        Assert.True(ew <= 1e-6, $"weights {ew}");
        Assert.Equal((float)w[n / 4], s.TrainingWeight(s.Timesteps[n / 4]));
    }

    [Fact]
    public void Training_weights_have_the_documented_values()
    {
        // docs/wan-dit.md#forward-pass: OmniAvatar trains on 1000 timesteps (not a reference value: the documented grid)
        var s = FlowMatchScheduler.Wan();
        s.SetTimesteps(1000, training: true);
        var mine = s.TrainingWeights.Select(v => (double)v).ToList();
        Assert.Equal(0.0, mine[0]);
        Assert.Equal(0.39795, mine[250], 5);
        Assert.Equal(1.02486, mine[500], 5);
        Assert.Equal(833, Enumerable.Range(0, 1000).MaxBy(i => mine[i]));
        Assert.Equal(1000.0, mine.Sum(), 2);
    }

    [Fact]
    public void Class_defaults_match()
    {
        var d = Ref.GetProperty("omniavatar").GetProperty("class_defaults");
        var s = new FlowMatchScheduler();
        Assert.Equal(d.GetProperty("num_train_timesteps").GetInt32(), s.NumTrainTimesteps);
        Assert.Equal(d.GetProperty("shift").GetDouble(), s.Shift);
        Assert.Equal(d.GetProperty("sigma_max").GetDouble(), s.SigmaMax);
        Assert.Equal(d.GetProperty("sigma_min").GetDouble(), s.SigmaMin, 15);
        Assert.Equal(d.GetProperty("extra_one_step").GetBoolean(), s.ExtraOneStep);
        Assert.Equal(d.GetProperty("num_inference_steps").GetInt32(), s.Timesteps.Count);
    }

    [Fact]
    public void Wan_unipc_schedules_match_exactly()
    {
        var entries = Ref.GetProperty("wan").GetProperty("unipc").EnumerateArray().ToList();
        Assert.NotEmpty(entries);
        double worst = 0;
        foreach (var e in entries)
        {
            int n = e.GetProperty("num_inference_steps").GetInt32();
            double shift = e.GetProperty("shift").GetDouble();
            Assert.Equal(("float32", "int64"), (e.GetProperty("sigmas_dtype").GetString(), e.GetProperty("timesteps_dtype").GetString()));
            var s = new FlowUniPCMultistepScheduler();
            s.SetTimesteps(n, shift);
            Assert.Equal(L(e.GetProperty("timesteps")), s.IntTimesteps);
            Assert.Equal(s.IntTimesteps.Select(v => (double)v), s.Timesteps);
            double es = MaxRel(s.Sigmas.Select(v => (double)v).ToList(), D(e.GetProperty("sigmas")));
            worst = Math.Max(worst, es);
            Assert.True(es <= 1e-6, $"N={n} shift={shift}: sigmas {es}");
        }
        log.WriteLine($"Wan UniPC: timesteps exact, worst sigma relative error {worst:E2}");
    }

    [Fact]
    public void Wan_dpmpp_schedules_match_exactly()
    {
        var entries = Ref.GetProperty("wan").GetProperty("dpmpp").EnumerateArray().ToList();
        Assert.NotEmpty(entries);
        foreach (var e in entries)
        {
            int n = e.GetProperty("num_inference_steps").GetInt32();
            double shift = e.GetProperty("shift").GetDouble();
            var s = WanSchedules.DpmPlusPlus(n, shift);
            Assert.Equal(L(e.GetProperty("timesteps")), s.Timesteps);
            Assert.Equal(D(e.GetProperty("sampling_sigmas_float64")), s.SigmasFloat64);          // bit-exact float64
            Assert.Equal(D(e.GetProperty("sigmas")).Select(v => (float)v), s.Sigmas);              // bit-exact float32
        }
    }

    [Fact]
    public void UniPC_config_of_the_reference_is_the_default()
    {
        var c = Ref.GetProperty("wan").GetProperty("unipc_config");
        var s = new FlowUniPCMultistepScheduler();
        Assert.Equal(c.GetProperty("solver_order").GetInt32(), s.SolverOrder);
        Assert.Equal(c.GetProperty("lower_order_final").GetBoolean(), s.LowerOrderFinal);
        Assert.Equal(c.GetProperty("num_train_timesteps").GetInt32(), s.NumTrainTimesteps);
        Assert.Equal(c.GetProperty("shift").GetDouble(), s.DefaultShift);
        Assert.Equal("bh2", c.GetProperty("solver_type").GetString());
        Assert.True(c.GetProperty("predict_x0").GetBoolean());
        Assert.Equal("zero", c.GetProperty("final_sigmas_type").GetString());
    }

    [Fact]
    public void Bf16_model_timesteps_are_OmniAvatars()
    {
        // docs/omniavatar.md#sampling: 50 steps, shift 5 -> 1000, 996, 992, 988, 984, ..., 358, 304, 242, 172, 92.5
        var s = FlowMatchScheduler.Wan(modelTimestepsInBFloat16: true);
        s.SetTimesteps(50, 5.0);
        var t = Enumerable.Range(0, 50).Select(s.ModelTimestep).ToArray();
        Assert.Equal(new[] { 1000.0, 996, 992, 988, 984 }, t[..5]);
        Assert.Equal(new[] { 358.0, 304, 242, 172, 92.5 }, t[^5..]);
        Assert.Equal(995.935, s.Timesteps[1], 3);   // the step keeps the float32 grid
        Assert.Equal(1, s.IndexOf(t[1]));           // nearest grid point to a bf16-rounded value
    }
}
