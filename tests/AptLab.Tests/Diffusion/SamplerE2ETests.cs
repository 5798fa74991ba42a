using AptLab.Diffusion;
using AptLab.Wan;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Diffusion;

/// <summary>The sampler_e2e reference case: 6 CFG steps (scale 4, shift 3) with the wan_dit_t2v weights, driven
/// by OmniAvatar's Euler loop and by Wan's UniPC loop; every stored latent within 1e-4 relative error.</summary>
public class SamplerE2ETests(ITestOutputHelper log)
{
    private const double Tol = 1e-4;

    private void Check(string name, Tensor got, Tensor expected)
    {
        double err = RelErr(got, expected);
        log.WriteLine($"{name}: rel err {err:E2}");
        Assert.True(err < Tol, $"{name}: relative error {err:E3} exceeds {Tol:E0}");
    }

    /// <summary>CFG-guided sampling loop: returns the latents after every step and the step-0 prediction.</summary>
    private static (List<Tensor> latents, Tensor pred0) Sample(WanModel model, ISampler sampler, StateDict io, ScalarType tDtype)
    {
        var x = io["noise"];
        var latents = new List<Tensor>();
        Tensor? pred0 = null;
        for (int i = 0; i < sampler.Steps; i++)
        {
            var t = torch.full([2], sampler.ModelTimestep(i), tDtype);
            // the conditional and unconditional passes batched (per-sample results equal separate calls)
            var outs = model.forward([x, x], t, [io["context_pos"], io["context_neg"]], 45).Outputs;
            var v = FlowMatch.Cfg(outs[1], outs[0], 4.0);
            pred0 ??= v;
            x = sampler.Step(v, i, x);
            latents.Add(x);
        }
        return (latents, pred0!);
    }

    [Fact]
    public void Euler_and_UniPC_trajectories_match_the_official_loops()
    {
        using var _ = torch.NewScope();
        using var noGrad = torch.no_grad();
        using var io = Checkpoint.Load(TestPaths.ReferenceFile("sampler_e2e.io.safetensors"));
        using var model = new WanModel(CaseConfig("wan_dit_t2v"));
        model.load_checkpoint(TestPaths.ReferenceFile("wan_dit_t2v.weights.safetensors"));
        model.eval();

        var euler = FlowMatchScheduler.Wan();
        euler.SetTimesteps(6, 3.0);
        Assert.Equal(io["euler.timesteps"].data<float>(), euler.Timesteps.Select(v => (float)v));
        Assert.Equal(io["euler.sigmas"].data<float>(), euler.Sigmas.Take(6));
        var (el, ep) = Sample(model, euler, io, ScalarType.Float32);
        Check("euler.noise_pred_step0", ep, io["euler.noise_pred_step0"]);
        for (int s = 1; s <= 4; s++) Check($"euler.latent_after_step{s}", el[s], io[$"euler.latent_after_step{s}"]);
        Check("euler.final_latent", el[5], io["euler.final_latent"]);

        var unipc = new FlowUniPCMultistepScheduler();
        unipc.SetTimesteps(6, 3.0);
        Assert.Equal(io["unipc.timesteps"].data<float>().Select(v => (long)v), unipc.IntTimesteps);
        Assert.Equal(io["unipc.sigmas"].data<float>(), unipc.Sigmas);
        var (ul, up) = Sample(model, unipc, io, ScalarType.Int64);
        Check("unipc.noise_pred_step0", up, io["unipc.noise_pred_step0"]);
        Check("unipc.final_latent", ul[5], io["unipc.final_latent"]);
    }
}
