using AptLab.Human;
using AptLab.Human.Audio;
using AptLab.Human.Inference;
using AptLab.Human.Training;
using AptLab.Torch.optim;

namespace AptLab.Tests.Human;

/// <summary>
/// A learning test of the audio path (docs/omnihuman.md#audio), the study's lip sync in miniature: latents whose
/// channel 0 is 4·loudness − 2 of each latent frame (loudness uniform in [0, 1], the same over the frame's video frames) (the "mouth"), audio features that carry each video frame's loudness along
/// a fixed direction plus noise; the tiny OmniHuman DiT is trained from its own init (audio cross-attention a no-op) by
/// flow matching with audio on, then samples with audio and with audio dropped are compared: the generated channel 0
/// follows the loudness with audio and not without.
/// </summary>
public class AudioLearningTests
{
    private const int Frames = 3, H = 2, W = 2;

    /// <summary>A batch: latents [B, 16, F, h, w] (channel 0 = 4·loudness − 2 of each latent frame, the rest 0), audio
    /// windows [B, L, 2n + 1, C] and the per-latent-frame loudness [B, F].</summary>
    private static (Tensor X0, Tensor Audio, Tensor Loudness) Batch(OmniHumanModel m, int b, Generator g, Tensor direction)
    {
        int l = m.config.VaeTemporal * (Frames - 1) + 1;
        var loud = torch.rand([b, Frames], generator: g);                                    // each latent frame's loudness
        // latent frame 0 holds video frame 0, latent frame k > 0 the frames 4k - 3 .. 4k
        var perFrame = torch.cat([loud.narrow(1, 0, 1), loud.narrow(1, 1, Frames - 1).repeat_interleave(m.config.VaeTemporal, 1)], 1);   // [B, L]
        var x0 = torch.zeros([b, 16, Frames, H, W]);
        x0.narrow(1, 0, 1).copy_((loud * 4 - 2).view(b, 1, Frames, 1, 1).expand(b, 1, Frames, H, W));
        var track = perFrame.unsqueeze(2) * direction.view(1, 1, -1) + torch.randn([b, l, m.config.AudioInDim], generator: g) * 0.1;
        return (x0, AudioWindows.Gather(track, 0, l, m.config.AudioWindow), loud);
    }

    private static double Pearson(Tensor a, Tensor b)
    {
        var x = a.flatten().to(ScalarType.Float64); var y = b.flatten().to(ScalarType.Float64);
        x = x - x.mean(); y = y - y.mean();
        return ((x * y).sum() / (x.square().sum() * y.square().sum()).sqrt()).item<double>();
    }

    [Fact]
    public void Audio_conditioning_learns_to_drive_the_mouth_channel_and_dropping_it_removes_the_sync()
    {
        using var _ = torch.NewScope();
        var m = HumanTestUtil.Tiny(3, nontrivial: false);
        using var g = new Generator(5);
        var direction = torch.randn([m.config.AudioInDim], generator: g);
        direction = direction / direction.norm();
        var ctx = torch.zeros([16, HumanTestUtil.TextLen, HumanTestUtil.TextDim]);
        m.train();
        using var opt = new AdamW(m.parameters(), lr: 5e-3, weight_decay: 0);
        double first = 0, last = 0;
        const int steps = 400;
        for (int step = 1; step <= steps; step++)
        {
            using var scope = torch.NewScope();
            var (x0, audio, _) = Batch(m, 16, g, direction);
            var sigma = torch.rand([16], generator: g);
            var noise = torch.randn(x0.shape, generator: g);
            var batch = new HumanBatch(x0, ctx, new HumanConditions { Audio = audio }, []);
            var loss = HumanFlowMatchingLoss.Compute(m, batch, sigma, noise).Loss;
            loss.backward();
            opt.step();
            opt.zero_grad();
            double l = loss.item<double>();
            if (step <= 20) first += l / 20;
            if (step > steps - 20) last += l / 20;
        }
        m.eval();
        var (tx0, taudio, tloud) = Batch(m, 16, g, direction);
        var start = torch.randn(tx0.shape, generator: g);
        var guidance = new HumanGuidance { Start = 1, End = 1 };
        var withAudio = HumanSampler.Sample(m, start, ctx, new HumanConditions { Audio = taudio }, guidance, 10, 1);
        var dropped = HumanSampler.Sample(m, start, ctx, new HumanConditions(), guidance, 10, 1);
        double rAudio = Pearson(withAudio.select(1, 0).mean([2, 3]), tloud);
        double rDropped = Pearson(dropped.select(1, 0).mean([2, 3]), tloud);
        double oNorm = m.audio_cross_attn.Sum(a => a.o.weight.norm().item<double>());
        Console.WriteLine($"[audio learning] loss {first:F3} -> {last:F3}; r with audio {rAudio:F3}, audio dropped {rDropped:F3}; |o| {oNorm:F3}, " +
                          $"max |v(audio) - v(dropped)| {HumanTestUtil.MaxAbs(withAudio, dropped):F4}");
        Assert.True(last < first, $"loss {first} -> {last}");
        Assert.True(rAudio > 0.8, $"r with audio {rAudio}");
        Assert.True(Math.Abs(rDropped) < 0.3, $"r with audio dropped {rDropped}");
    }
}
