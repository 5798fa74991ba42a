using AptLab.Avatar;
using AptLab.Avatar.Training;
using AptLab.Torch.nn;
using AptLab.Avatar.Data;

namespace AptLab.Tests.Avatar.Training;

/// <summary>The training objective against docs/omniavatar.md#training written out independently: the timestep grid, weights
/// and bf16 rounding, and the loss of a fixed draw computed by hand (x_t, y, audio, target, masked weighted MSE).</summary>
public class AvatarLossTests
{
    /// <summary>float32 → nearest bf16 (ties to even), by bit manipulation.</summary>
    private static double Bf16(double v)
    {
        uint bits = BitConverter.SingleToUInt32Bits((float)v);
        uint rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    [Fact]
    public void TimestepGridWeightsAndBf16RoundingFollowTheSpec()
    {
        var ts = new AvatarTimesteps();
        int n = 1000;
        var t = new double[n]; var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = 1 - i / (double)n, sigma = 5 * s / (1 + 4 * s);
            t[i] = 1000 * sigma;
            y[i] = Math.Exp(-2 * Math.Pow((t[i] - 500) / 1000, 2));
        }
        double ymin = y.Min(), ysum = y.Sum(v => v - ymin);
        for (int i = 0; i < n; i += 37)
        {
            Assert.Equal(t[i], ts.Scheduler.Timesteps[i], 3e-3);                 // float32 grid
            Assert.Equal((y[i] - ymin) * 1000 / ysum, ts.Scheduler.TrainingWeights[i], 2e-4);
            var d = ts.At(i);
            Assert.Equal(Bf16(ts.Scheduler.Timesteps[i]), d.Timestep);            // τ = bf16(t_id)
            int nearest = Enumerable.Range(0, n).MinBy(j => Math.Abs(ts.Scheduler.Timesteps[j] - d.Timestep));
            Assert.Equal(nearest, d.Index);
            Assert.Equal(ts.Scheduler.Sigmas[nearest], d.Sigma);
            Assert.Equal(ts.Scheduler.TrainingWeights[nearest], d.Weight);
        }
        // spec figures: w = 0 at t = 1000, max ~2.076 near t = 500, ~0.032 at t = 5
        Assert.Equal(0.0, ts.At(0).Weight, 1e-6);
        Assert.Equal(2.076, ts.Scheduler.TrainingWeights.Max(), 1e-3);
        Assert.Equal(0.032, ts.Scheduler.TrainingWeights[n - 1], 1e-3);
        // bf16 moves τ off the grid (spacing 4 near 1000): id 1 (t = 999.8) is fed as 1000 and takes σ, w of id 0
        Assert.Equal(999.8, ts.Scheduler.Timesteps[1], 1e-3);
        Assert.Equal(1000.0, ts.At(1).Timestep);
        Assert.Equal(0, ts.At(1).Index);
        Assert.Contains(Enumerable.Range(0, n), i => ts.At(i).Index != i);
        // ids uniform on [0, 1000): mean 499.5, std of the mean of 20000 draws 2.04
        using var g = new Generator(7);
        var draws = ts.Sample(20000, g);
        Assert.InRange(draws.Average(d => d.Id), 489.5, 509.5);
        Assert.Equal(0, draws.Min(d => d.Id));
        Assert.Equal(999, draws.Max(d => d.Id));
    }

    private static OmniAvatarModel TinyModel()
    {
        var m = new OmniAvatarModel(AvatarTestUtil.Tiny);
        AvatarTestUtil.Randomize(m, 3, 32);
        return m;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void LossOfAFixedDrawEqualsTheClosedForm(bool lossOnPrefix, bool dropSecondAudio)
    {
        using var scope = torch.NewScope();
        using var model = TinyModel();
        using var g = new Generator(11);
        const int B = 2, C = 16, Fr = 3, H = 4, W = 4, L = 4 * Fr - 3, A = 24;
        var x0 = torch.randn([B, C, Fr, H, W], generator: g);
        var refLat = torch.randn([B, C, 1, H, W], generator: g);
        var audio = torch.randn([B, L, A], generator: g);
        var ctx = torch.randn([B, 5, 12], generator: g);
        var noise = torch.randn([B, C, Fr, H, W], generator: g);
        var ts = new AvatarTimesteps();
        AvatarTimestep[] steps = [ts.At(400), ts.At(873)];
        int[] prefix = [1, 2];
        var loss = new AvatarFlowMatchingLoss { LossOnPrefixFrames = lossOnPrefix };
        double got;
        using (torch.no_grad())
            got = loss.Compute(model, new AvatarBatch(x0, refLat, audio, ctx), new AvatarDraw(steps, noise, prefix, [false, dropSecondAudio])).Loss.item<double>();

        // by hand, element by element
        var xd = x0.data<float>(); var nd = noise.data<float>(); var rd = refLat.data<float>();
        var xt = new float[xd.Length]; var yv = new float[B * (C + 1) * Fr * H * W];
        for (int b = 0; b < B; b++)
            for (int c = 0; c <= C; c++)
                for (int f = 0; f < Fr; f++)
                    for (int k = 0; k < H * W; k++)
                    {
                        int yi = (((b * (C + 1) + c) * Fr + f) * H * W) + k;
                        if (c == C) { yv[yi] = f < prefix[b] ? 0 : 1; continue; }
                        int i = (((b * C + c) * Fr + f) * H * W) + k;
                        float s = steps[b].Sigma;
                        xt[i] = f < prefix[b] ? xd[i] : (1 - s) * xd[i] + s * nd[i];
                        yv[yi] = rd[((b * C + c) * H * W) + k];
                    }
        var a = audio.data<float>().ToArray();
        for (int b = 0; b < B; b++) Array.Clear(a, b * L * A, A);                       // the reference frame's row
        if (dropSecondAudio) Array.Clear(a, L * A, L * A);                              // sample 1: unconditional audio
        Tensor pred;
        using (torch.no_grad())
            pred = model.forward(torch.tensor(xt, B, C, Fr, H, W), torch.tensor(new[] { (float)steps[0].Timestep, (float)steps[1].Timestep }, B),
                ctx, torch.tensor(yv, B, C + 1, Fr, H, W), torch.tensor(a, B, L, A));
        var pd = pred.data<float>();
        double expected = 0;
        for (int b = 0; b < B; b++)
        {
            double sum = 0; long count = 0;
            for (int c = 0; c < C; c++)
                for (int f = lossOnPrefix ? 0 : prefix[b]; f < Fr; f++)
                    for (int k = 0; k < H * W; k++)
                    {
                        int i = (((b * C + c) * Fr + f) * H * W) + k;
                        double d = pd[i] - (nd[i] - xd[i]);
                        sum += d * d; count++;
                    }
            expected += steps[b].Weight * sum / count / B;
        }
        Assert.True(expected > 0.05, $"degenerate case: {expected}");
        Assert.Equal(expected, got, expected * 1e-5);
    }

    [Fact]
    public void BatchOfOneWithTheReferencePrefixIsDiffSynthsPlainWeightedMse()
    {
        using var scope = torch.NewScope();
        using var model = TinyModel();
        using var g = new Generator(5);
        var batch = new AvatarBatch(torch.randn([1, 16, 2, 4, 4], generator: g), torch.randn([1, 16, 1, 4, 4], generator: g),
            torch.randn([1, 5, 24], generator: g), torch.randn([1, 3, 12], generator: g));
        var noise = torch.randn([1, 16, 2, 4, 4], generator: g);
        var step = new AvatarTimesteps().At(500);
        using var _ = torch.no_grad();
        var output = new AvatarFlowMatchingLoss { LossOnPrefixFrames = true }.Compute(model, batch, new AvatarDraw([step], noise, [1]));
        var xt = torch.cat([batch.Latents.narrow(2, 0, 1), (batch.Latents * (1 - step.Sigma) + noise * step.Sigma).narrow(2, 1, 1)], 2);
        var y = torch.cat([batch.RefLatents.expand(1, 16, 2, 4, 4), torch.tensor(new float[] { 0, 1 }, 1, 1, 2, 1, 1).expand(1, 1, 2, 4, 4)], 1);
        var audio = torch.cat([torch.zeros([1, 1, 24]), batch.Audio.narrow(1, 1, 4)], 1);
        var pred = model.forward(xt, torch.tensor(new[] { (float)step.Timestep }, 1), batch.Context, y, audio);
        double mse = F.mse_loss(pred, noise - batch.Latents).item<double>();
        Assert.Equal(mse * step.Weight, output.Loss.item<double>(), 1e-6 * mse);
        Assert.Equal(mse, output.Mse[0], 1e-6 * mse);
    }

    [Fact]
    public void GradientCheckpointingGivesTheSameGradients()
    {
        using var scope = torch.NewScope();
        using var model = TinyModel();
        Lora.Inject(model, new LoraConfig(4, 2, InitLoraWeights: "random"), new Generator(1));
        var trainable = AvatarTrainableParameters.Apply(model);
        using var g = new Generator(9);
        var batch = new AvatarBatch(torch.randn([2, 16, 3, 4, 4], generator: g), torch.randn([2, 16, 1, 4, 4], generator: g),
            torch.randn([2, 9, 24], generator: g), torch.randn([2, 4, 12], generator: g));
        var ts = new AvatarTimesteps();
        var draw = new AvatarDraw([ts.At(100), ts.At(600)], torch.randn([2, 16, 3, 4, 4], generator: g), [1, 2]);
        Tensor[] Grads(bool checkpointing)
        {
            model.GradientCheckpointing = checkpointing;
            model.zero_grad();
            new AvatarFlowMatchingLoss().Compute(model, batch, draw).Loss.backward();
            return trainable.Select(t => t.parameter.grad!.clone()).ToArray();
        }
        var plain = Grads(false);
        var recomputed = Grads(true);
        for (int i = 0; i < plain.Length; i++)
        {
            Assert.True(plain[i].abs().max().item<double>() > 0 || trainable[i].name.StartsWith("audio_proj"), $"{trainable[i].name}: zero gradient");
            Assert.True((plain[i] - recomputed[i]).abs().max().item<double>() <= 1e-6 * Math.Max(1, plain[i].abs().max().item<double>()), trainable[i].name);
        }
    }
}
