using AptLab.Diffusion;
using AptLab.Wan.Text;
using AptLab.Wan.Pipelines;
using static AptLab.Tests.Wan.Pipelines.PipelineTestUtil;

namespace AptLab.Tests.Wan.Pipelines;

/// <summary>The T2V pipeline against a hand-rolled CFG loop over the same tiny random models (docs/wan-dit.md#pipelines). The
/// samplers themselves are checked against the official trajectories by the sampler_e2e case (Diffusion tests).</summary>
public sealed class WanT2VPipelineTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewScope();
    private readonly WanT2VPipeline pipe;

    public WanT2VPipelineTests()
    {
        var (dit, vae, text) = Tiny();
        pipe = new WanT2VPipeline(dit, vae, text, ownsModels: true);
    }

    public void Dispose()
    {
        pipe.Dispose();
        scope.Dispose();
    }

    private static WanSampleSettings Settings(WanSamplerKind kind) => new()
    {
        Prompt = "a red circle moving left", Frames = 5, Height = 32, Width = 48, Steps = 3, Shift = 5.0, Guide = 4.5,
        Seed = 11, Sampler = kind,
    };

    /// <summary>The official loop written out: separate conditional and unconditional passes with the model
    /// timesteps (UniPC: the int-truncated schedule; Euler: x + (σ_{k+1} − σ_k)·v on the float sigmas).</summary>
    private Tensor HandRolled(WanSampleSettings s, string negative)
    {
        using var _ = torch.no_grad();
        var ctx = pipe.TextEncoder.Encode([s.Prompt])[0].unsqueeze(0);            // [1, L, text_dim]
        var ctxNull = pipe.TextEncoder.Encode([negative])[0].unsqueeze(0);
        using var g = new Generator(s.Seed);
        var x = torch.randn([16, 2, 4, 6], ScalarType.Float32, Device.CPU, g);     // (5 − 1)/4 + 1 = 2 latent frames, 32/8 × 48/8
        ISampler sampler;
        double[] modelT;
        if (s.Sampler == WanSamplerKind.UniPC)
        {
            var u = new FlowUniPCMultistepScheduler();
            u.SetTimesteps(s.Steps, s.Shift);
            modelT = u.IntTimesteps.Select(t => (double)t).ToArray();
            Assert.All(modelT, t => Assert.Equal(Math.Truncate(t), t));
            sampler = u;
        }
        else
        {
            var e = FlowMatchScheduler.Wan();
            e.SetTimesteps(s.Steps, s.Shift);
            modelT = e.Timesteps.ToArray();
            sampler = e;
        }
        for (int k = 0; k < s.Steps; k++)
        {
            var t = torch.tensor(new[] { modelT[k] });
            var vc = pipe.Dit.forward(x.unsqueeze(0), t, ctx).squeeze(0);
            var vu = pipe.Dit.forward(x.unsqueeze(0), t, ctxNull).squeeze(0);
            var v = vu + (vc - vu) * s.Guide;
            if (s.Sampler == WanSamplerKind.Euler)
                x = x + v * (double)(sampler.Sigmas[k + 1] - sampler.Sigmas[k]);
            else x = sampler.Step(v, k, x);
        }
        sampler.Reset();                                                        // frees UniPC's history
        return x;
    }

    [Theory]
    [InlineData(WanSamplerKind.UniPC)]
    [InlineData(WanSamplerKind.Euler)]
    public void Generate_reproduces_the_hand_rolled_cfg_loop_exactly(WanSamplerKind kind)
    {
        var s = Settings(kind);
        var progress = new List<WanSampleProgress>();
        using var result = pipe.Generate(s, progress.Add);
        var expected = HandRolled(s, WanNegativePrompts.Default);
        Assert.Equal(new long[] { 16, 2, 4, 6 }, result.Latent.shape);
        Assert.Equal(0.0, MaxAbsDiff(result.Latent, expected));
        Assert.True(expected.abs().max().item<float>() > 0.1f, "the latent must not be trivial");

        using var video = pipe.Vae.decode(expected.unsqueeze(0)).squeeze(0);        // [3, 5, 32, 48]
        Assert.Equal(new long[] { 3, 5, 32, 48 }, result.Video.shape);
        Assert.Equal(0.0, MaxAbsDiff(result.Video, video));

        var steps = progress.Where(p => p.Phase == "denoise").ToList();
        Assert.Equal(Enumerable.Range(1, s.Steps), steps.Select(p => p.Step));
        var schedule = s.CreateSampler();
        Assert.Equal(Enumerable.Range(0, s.Steps).Select(schedule.ModelTimestep), steps.Select(p => p.Timestep));
        Assert.Equal(["text", "denoise", "denoise", "denoise", "decode"], progress.Select(p => p.Phase));
    }

    [Fact]
    public void Negative_prompt_defaults_to_wans_and_changes_the_result()
    {
        var s = Settings(WanSamplerKind.Euler) with { Steps = 1 };
        var byDefault = pipe.GenerateLatent(s);
        var explicitDefault = pipe.GenerateLatent(s with { NegativePrompt = WanNegativePrompts.Default });
        var empty = pipe.GenerateLatent(s with { NegativePrompt = "" });
        Assert.Equal(0.0, MaxAbsDiff(byDefault, explicitDefault));
        Assert.True(MaxAbsDiff(byDefault, empty) > 1e-3);
    }

    [Fact]
    public void Seed_fixes_the_noise_and_guidance_one_is_the_conditional_pass()
    {
        var s = Settings(WanSamplerKind.Euler) with { Steps = 1 };
        var a = pipe.GenerateLatent(s);
        var b = pipe.GenerateLatent(s);
        var c = pipe.GenerateLatent(s with { Seed = 12 });
        Assert.Equal(0.0, MaxAbsDiff(a, b));
        Assert.True(MaxAbsDiff(a, c) > 1e-2);

        // g = 1: one pass, x1 = x0 + (0 − 1)·DiT(x0, 1000, ctx) for the 1-step Euler schedule (σ 1 → 0).
        var one = pipe.GenerateLatent(s with { Guide = 1.0 });
        using var _ = torch.no_grad();
        using var g = new Generator(s.Seed);
        var x = torch.randn([16, 2, 4, 6], ScalarType.Float32, Device.CPU, g);
        var v = pipe.Dit.forward(x.unsqueeze(0), torch.tensor(new[] { 1000.0 }), pipe.TextEncoder.Encode([s.Prompt])[0].unsqueeze(0)).squeeze(0);
        Assert.Equal(0.0, MaxAbsDiff(one, x - v));
    }

    [Theory]
    [InlineData(6, 32, 48, "frames = 6")]
    [InlineData(0, 32, 48, "frames = 0")]
    [InlineData(5, 40, 48, "height = 40")]
    [InlineData(5, 32, 8, "width = 8")]
    public void Bad_sizes_are_one_clear_error(int frames, int height, int width, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => pipe.Generate(Settings(WanSamplerKind.UniPC) with { Frames = frames, Height = height, Width = width }));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(WanSamplerKind.UniPC)]
    [InlineData(WanSamplerKind.Euler)]
    public void Sampling_leaves_no_tensor_behind(WanSamplerKind kind)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = TestPaths.SettledLiveTensors();
        using (torch.NewScope()) pipe.GenerateLatent(Settings(kind));
        Assert.Equal(before, torch.live_tensors());                          // the sampler's history included
    }

    [Fact]
    public void Mismatched_models_are_rejected()
    {
        var (dit, vae, text) = Tiny(i2v: true);
        try
        {
            var e = Assert.Throws<ArgumentException>(() => new WanT2VPipeline(dit, vae, text));
            Assert.Contains("i2v", e.Message);
        }
        finally { dit.Dispose(); vae.Dispose(); text.Encoder.Dispose(); text.Tokenizer.Dispose(); }
    }
}
