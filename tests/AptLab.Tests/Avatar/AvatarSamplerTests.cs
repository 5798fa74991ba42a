using AptLab.Diffusion;
using AptLab.Avatar.Inference;
using AptLab.Avatar;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;
using AptLab.Wan;

namespace AptLab.Tests.Avatar;

/// <summary>OmniAvatar's per-step procedure (docs/omniavatar.md#sampling) and TeaCache (docs/omniavatar.md#teacache) on a tiny random DiT.</summary>
public class AvatarSamplerTests(ITestOutputHelper log)
{
    private sealed record Case(OmniAvatarModel Model, Tensor Lat, Tensor Y, Tensor Audio, Tensor Ctx, Tensor Neg, Tensor Noise) : IDisposable
    {
        public void Dispose() => Model.Dispose();
    }

    private static Case Make(ulong seed)
    {
        var c = AvatarTestUtil.Tiny;
        var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, seed, c.Wan.Dim);
        using var g = new Generator(seed + 1);
        var lat = torch.zeros(1, 16, 3, 4, 4);
        lat.narrow(2, 0, 1).copy_(torch.randn([1, 16, 1, 4, 4], generator: g));
        var y = torch.cat([lat.narrow(2, 0, 1).expand(1, 16, 3, 4, 4), torch.ones(1, 1, 3, 4, 4)], 1);
        y.narrow(1, 16, 1).narrow(2, 0, 1).zero_();
        return new Case(model, lat, y, torch.randn([1, 9, c.AudioInDim], generator: g) * 0.5,
            torch.randn([1, 5, c.Wan.TextDim], generator: g), torch.randn([1, 4, c.Wan.TextDim], generator: g),
            torch.randn([1, 16, 3, 4, 4], generator: g));
    }

    [Theory]
    [InlineData(1.0, null, 1)]
    [InlineData(1.0, 3.0, 1)]
    [InlineData(4.5, null, 2)]
    [InlineData(4.5, 4.5, 2)]
    [InlineData(4.5, 3.0, 3)]
    public void One_step_combines_the_passes_exactly_as_specified(double cfg, double? acfg, int passes)
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var k = Make(31);
        var o = new AvatarSamplingOptions { NumSteps = 1, GuidanceScale = cfg, AudioScale = acfg };
        Assert.Equal(passes, o.Passes);
        var result = AvatarSampler.Sample(k.Model, k.Lat, 1, k.Y, k.Audio, k.Ctx, k.Neg, o, noise: k.Noise);
        Assert.Equal(passes, result.ModelCalls);
        // manual: x = noise with the prefix frame overwritten; tau = 1000; x1 = x + v (0 − 1)
        var x = k.Noise.clone();
        x.narrow(2, 0, 1).copy_(k.Lat.narrow(2, 0, 1));
        var tau = torch.tensor([1000f], 1);
        var zero = torch.zeros_like(k.Audio);
        var pos = k.Model.forward(x, tau, k.Ctx, k.Y, k.Audio);
        Tensor v = passes switch
        {
            1 => pos,
            2 => k.Model.forward(x, tau, k.Neg, k.Y, zero) + (pos - k.Model.forward(x, tau, k.Neg, k.Y, zero)) * cfg,
            _ => k.Model.forward(x, tau, k.Neg, k.Y, zero)
                 + (k.Model.forward(x, tau, k.Ctx, k.Y, zero) - k.Model.forward(x, tau, k.Neg, k.Y, zero)) * cfg
                 + (pos - k.Model.forward(x, tau, k.Ctx, k.Y, zero)) * acfg!.Value,
        };
        var expected = x - v;
        expected.narrow(2, 0, 1).copy_(k.Lat.narrow(2, 0, 1));                  // final overwrite
        double err = RelErr(result.Latents, expected);
        log.WriteLine($"cfg {cfg} audio {acfg?.ToString() ?? "-"}: {passes} passes, rel err {err:E2}");
        Assert.True(err < 1e-6);
        Assert.Equal(0.0, RelErr(result.Latents.narrow(2, 0, 1), k.Lat.narrow(2, 0, 1)));
    }

    [Fact]
    public void Steps_use_bf16_rounded_timesteps_and_the_float32_sigma_grid()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var k = Make(41);
        var o = new AvatarSamplingOptions { NumSteps = 3, GuidanceScale = 1 };
        var result = AvatarSampler.Sample(k.Model, k.Lat, 1, k.Y, k.Audio, k.Ctx, null, o, noise: k.Noise);
        var sched = FlowMatchScheduler.Wan();
        sched.SetTimesteps(3, 5.0);
        var s = sched.Sigmas;
        var x = k.Noise.clone();
        float[] taus = [1000f, 908f, 716f];   // 1000, 909.09, 714.29 rounded to bfloat16 (spacing 4 in [512, 1024))
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(taus[i], (float)FlowMatch.RoundToBFloat16(sched.Timesteps[i]));
            x.narrow(2, 0, 1).copy_(k.Lat.narrow(2, 0, 1));
            var v = k.Model.forward(x, torch.tensor([taus[i]], 1), k.Ctx, k.Y, k.Audio);
            x = x + v * (double)(s[i + 1] - s[i]);
        }
        x.narrow(2, 0, 1).copy_(k.Lat.narrow(2, 0, 1));
        double err = RelErr(result.Latents, x);
        log.WriteLine($"3 steps vs manual loop: rel err {err:E2}");
        Assert.True(err < 1e-6);
        // with exact float timesteps the result differs (the rounding is really applied)
        var exact = AvatarSampler.Sample(k.Model, k.Lat, 1, k.Y, k.Audio, k.Ctx, null, o with { BFloat16Timesteps = false }, noise: k.Noise);
        Assert.True(RelErr(exact.Latents, result.Latents) > 1e-7);
    }

    [Fact]
    public void TeaCache_threshold_zero_is_bit_identical_and_a_positive_threshold_skips_steps()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var k = Make(51);
        // model level: a cache with threshold 0 runs every call and changes nothing, bit for bit
        var sched = FlowMatchScheduler.Wan(true);
        sched.SetTimesteps(6, 5.0);
        using var cache = new TeaCache(6, 0.0);
        for (int i = 0; i < 6; i++)
        {
            var tau = torch.tensor([(float)sched.ModelTimestep(i)], 1);
            var plain = k.Model.forward(k.Noise, tau, k.Ctx, k.Y, k.Audio);
            var cached = k.Model.forward(k.Noise, tau, k.Ctx, k.Y, k.Audio, cache);
            Assert.Equal(plain.data<float>(), cached.data<float>());
        }
        Assert.Equal((0, 6), (cache.Skipped, cache.Computed));
        // sampler level: threshold 0 (the default) = no cache objects, the same latents as without
        var o = new AvatarSamplingOptions { NumSteps = 6, GuidanceScale = 3 };
        var none = AvatarSampler.Sample(k.Model, k.Lat, 1, k.Y, k.Audio, k.Ctx, k.Neg, o, noise: k.Noise);
        var zero = AvatarSampler.Sample(k.Model, k.Lat, 1, k.Y, k.Audio, k.Ctx, k.Neg, o with { TeaCacheThreshold = 0 }, noise: k.Noise);
        Assert.Equal(none.Latents.data<float>(), zero.Latents.data<float>());
        Assert.Equal(0, zero.SkippedCalls);
        // a positive threshold skips middle steps of both passes (t_mod is shared), never the first or last
        var cachedRun = AvatarSampler.Sample(k.Model, k.Lat, 1, k.Y, k.Audio, k.Ctx, k.Neg, o with { TeaCacheThreshold = 0.3 }, noise: k.Noise);
        double diff = RelErr(cachedRun.Latents, none.Latents);
        log.WriteLine($"threshold 0.3: {cachedRun.SkippedCalls} of {cachedRun.ModelCalls} calls skipped, rel diff {diff:E2}");
        Assert.True(cachedRun.SkippedCalls > 0 && cachedRun.SkippedCalls % 2 == 0 && cachedRun.SkippedCalls <= 2 * 4);
        Assert.True(diff > 0 && diff < 0.5);
        // the skip decision follows the accumulated rescaled relative change of t_mod
        using var probe = new TeaCache(6, 0.3);
        var mods = Enumerable.Range(0, 6).Select(i => k.Model.wan.TimeEmbedding(torch.tensor([(float)sched.ModelTimestep(i)], 1), 1).e0).ToList();
        double acc = 0;
        for (int i = 0; i < 6; i++)
        {
            bool expectSkip = false;
            if (i > 0 && i < 5)
            {
                double rel = ((mods[i] - mods[i - 1]).abs().mean() / mods[i - 1].abs().mean()).item<float>();
                acc += probe.Rescale(rel);
                expectSkip = acc < 0.3;
                if (!expectSkip) acc = 0;
            }
            bool skip = probe.Check(mods[i]);
            if (!skip) probe.Store(k.Noise.flatten(2).transpose(1, 2), k.Noise.flatten(2).transpose(1, 2));
            Assert.Equal(expectSkip, skip);
        }
        Assert.Equal(cachedRun.SkippedCalls / 2, probe.Skipped);
    }
}
