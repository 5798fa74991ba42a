using AptLab.Torch.IO;
using AptLab.Diffusion;
using AptLab.Wan;
using Xunit.Abstractions;

namespace AptLab.Tests.Diffusion;

/// <summary>The sampler_e2e reference case: CFG sampling with the wan_dit_t2v weights, driven by OmniAvatar's Euler loop
/// and by Wan's UniPC loop; every stored latent within 1e-4 relative error. The step counts, shifts, guidance scales,
/// scheduler arguments, seq_len and model config are read from the case's JSON (the calls the generator wrote out).</summary>
public class SamplerE2ETests(ITestOutputHelper log)
{
    /// <summary>CFG-guided sampling loop: returns the latents after every step and the step-0 prediction.</summary>
    private static (List<Tensor> latents, Tensor pred0) Sample(WanModel model, ISampler sampler, ReferenceCase rc, ScalarType tDtype,
        double guidance, long seqLen)
    {
        var x = rc.Input("noise");
        var latents = new List<Tensor>();
        Tensor? pred0 = null;
        for (int i = 0; i < sampler.Steps; i++)
        {
            var t = torch.full([2], sampler.ModelTimestep(i), tDtype);
            // the conditional and unconditional passes batched (per-sample results equal separate calls)
            var outs = model.forward([x, x], t, [rc.Input("context_pos"), rc.Input("context_neg")], seqLen).Outputs;
            var v = FlowMatch.Cfg(outs[1], outs[0], guidance);
            pred0 ??= v;
            x = sampler.Step(v, i, x);
            latents.Add(x);
        }
        return (latents, pred0!);
    }

    /// <summary>(steps, shift) of a scheduler call written as "...set_timesteps(N, ..., shift=S)".</summary>
    private static (int steps, double shift) Schedule(string scheduler)
    {
        var p = ReferenceCase.Parse(scheduler, @"set_timesteps\((\d+),[^)]*shift=([0-9.]+)\)");
        return (int.Parse(p[0]), ReferenceCase.Number(p[1]));
    }

    /// <summary>The timestep dtype of a "model_call" ("... (float32)" or "... (int64)").</summary>
    private static ScalarType TimestepDtype(string call) =>
        ReferenceCase.Parse(call, @"\((float32|int64)\)")[0] == "int64" ? ScalarType.Int64 : ScalarType.Float32;

    private static void CheckTrajectory(ReferenceCase rc, string prefix, List<Tensor> latents, Tensor pred0)
    {
        rc.Check(prefix + ".noise_pred_step0", pred0);
        foreach (var (name, s) in rc.Indexed(Regex(prefix) + @"\.latent_after_step(\d+)")) rc.Check(name, latents[s]);
        rc.Check(prefix + ".final_latent", latents[^1]);
    }

    private static string Regex(string s) => System.Text.RegularExpressions.Regex.Escape(s);

    [Fact]
    public void Euler_and_UniPC_trajectories_match_the_official_loops()
    {
        using var _ = torch.NewScope();
        using var noGrad = torch.no_grad();
        using var rc = ReferenceCase.Open("sampler_e2e", log);
        long seqLen = rc.Json.GetProperty("seq_len").GetInt64();
        using var model = new WanModel(WanConfig.FromJson(rc.Json.GetProperty("model_config"), "sampler_e2e.json"));
        model.load_checkpoint(rc.WeightsPath);
        model.eval();

        // primary: OmniAvatar's FlowMatchScheduler(shift=.., sigma_min=.., extra_one_step=..).set_timesteps(N, shift=S), Euler
        var primary = rc.Json.GetProperty("primary");
        Assert.Equal("euler", primary.GetProperty("name").GetString());
        string sched = primary.GetProperty("scheduler").GetString()!;
        var ctor = ReferenceCase.Parse(sched, @"FlowMatchScheduler\(shift=([0-9.]+), sigma_min=([0-9.]+), extra_one_step=(True|False)\)");
        var (steps, shift) = Schedule(sched);
        double guidance = ReferenceCase.Number(ReferenceCase.Parse(primary.GetProperty("loop").GetString()!, @"nega \+ ([0-9.]+)\s*\*\s*\(posi - nega\)")[0]);
        var euler = new FlowMatchScheduler(shift: ReferenceCase.Number(ctor[0]), sigmaMin: ReferenceCase.Number(ctor[1]), extraOneStep: ctor[2] == "True");
        euler.SetTimesteps(steps, shift);
        Assert.Equal(primary.GetProperty("per_step").GetArrayLength(), steps);
        rc.CheckExact("euler.timesteps", torch.tensor(euler.Timesteps.Select(v => (float)v).ToArray()));
        rc.CheckExact("euler.sigmas", torch.tensor(euler.Sigmas.Take(steps).ToArray()));
        var (el, ep) = Sample(model, euler, rc, TimestepDtype(primary.GetProperty("model_call").GetString()!), guidance, seqLen);
        CheckTrajectory(rc, "euler", el, ep);

        // extra: Wan's FlowUniPCMultistepScheduler(num_train_timesteps=.., shift=.., ...).set_timesteps(N, shift=S)
        var extra = rc.Json.GetProperty("extra");
        Assert.Equal("unipc", extra.GetProperty("name").GetString());
        sched = extra.GetProperty("scheduler").GetString()!;
        ctor = ReferenceCase.Parse(sched, @"FlowUniPCMultistepScheduler\(num_train_timesteps=(\d+), shift=([0-9.]+), use_dynamic_shifting=False\)");
        (steps, shift) = Schedule(sched);
        guidance = ReferenceCase.Number(ReferenceCase.Parse(extra.GetProperty("loop").GetString()!, @"uncond \+ ([0-9.]+)\s*\*\s*\(cond - uncond\)")[0]);
        var unipc = new FlowUniPCMultistepScheduler(numTrainTimesteps: int.Parse(ctor[0]), shift: ReferenceCase.Number(ctor[1]));
        unipc.SetTimesteps(steps, shift);
        Assert.Equal(extra.GetProperty("per_step").GetArrayLength(), steps);
        rc.CheckExact("unipc.timesteps", torch.tensor(unipc.IntTimesteps.Select(v => (float)v).ToArray()));
        rc.CheckExact("unipc.sigmas", torch.tensor(unipc.Sigmas.ToArray()));
        var (ul, up) = Sample(model, unipc, rc, TimestepDtype(extra.GetProperty("model_call").GetString()!), guidance, seqLen);
        CheckTrajectory(rc, "unipc", ul, up);
        rc.AssertAllAccountedFor();
    }
}
