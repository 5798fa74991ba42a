using AptLab.Data;
using AptLab.Human;
using AptLab.Human.Data;
using AptLab.Human.Training;
using AptLab.Wan.Vae;
using Xunit.Abstractions;
using static AptLab.Tests.Human.HumanTestUtil;

namespace AptLab.Tests.Human;

/// <summary>The omni-conditions training rules (docs/omnihuman.md#training) and the objective.</summary>
public class HumanTrainingTests(ITestOutputHelper log)
{
    /// <summary>10,000 batches of 8 (stage 3's ratios and the recipe's pools): each condition's measured rate is its
    /// configured ratio within 0.01, the guidance dropout rates too; in EVERY sample a stronger active condition has all
    /// weaker ones active; audio-active samples come from audio-qualified clips, pose-active ones from clips qualified for
    /// both. Catches independent draws (nesting broken), a swapped order, ratios applied to the wrong pool.</summary>
    [Fact]
    public void Condition_ratios_match_the_config_and_weaker_conditions_stay_on()
    {
        int clips = 200;
        var audioOk = Enumerable.Range(0, clips).Select(i => i % 8 != 0).ToArray();          // 7 of 8 audio-qualified
        var pose = Enumerable.Range(0, clips).Select(i => i % 3 == 0).ToArray();             // a third with keypoints
        var sampler = new OmniConditionSampler(clips, audioOk, pose);
        var r = new ConditionRatios { Text = 0.85, Reference = 0.7, Audio = 0.45, Pose = 0.2, Motion = 0.3, DropTextAudio = 0.12, DropText = 0.06 }.Validate();
        using var g = new Generator(17);
        int n = 0;
        double text = 0, reference = 0, audio = 0, poseOn = 0, motion = 0, dropTA = 0, dropT = 0, textActive = 0;
        for (int batch = 0; batch < 10_000; batch++)
            foreach (var d in sampler.Draw(8, r, g))
            {
                n++;
                Assert.True(!d.Pose || d.Audio, "pose without audio");
                Assert.True(!d.Audio || d.Reference, "audio without reference");
                Assert.True(!d.Reference || d.Text, "reference without text");
                if (d.Audio) Assert.True(audioOk[d.Clip], $"audio-active sample from clip {d.Clip}, which is not audio-qualified");
                if (d.Pose) Assert.True(audioOk[d.Clip] && pose[d.Clip], $"pose-active sample from clip {d.Clip} without pose");
                text += d.Text ? 1 : 0; reference += d.Reference ? 1 : 0; audio += d.Audio ? 1 : 0; poseOn += d.Pose ? 1 : 0;
                motion += d.Motion ? 1 : 0;
                if (d.Text) { textActive++; dropTA += d.Drop == GuidanceDrop.TextAudio ? 1 : 0; dropT += d.Drop == GuidanceDrop.Text ? 1 : 0; }
                else Assert.Equal(GuidanceDrop.None, d.Drop);
                // the model's inputs: guidance dropout removes text (and audio), keeps reference and pose
                Assert.Equal(d.Text && d.Drop == GuidanceDrop.None, d.TextOn);
                Assert.Equal(d.Audio && d.Drop != GuidanceDrop.TextAudio, d.AudioOn);
                Assert.Equal(d.Pose, d.PoseOn);
            }
        foreach (var (name, measured, expected) in new[] { ("text", text / n, r.Text), ("reference", reference / n, r.Reference),
                     ("audio", audio / n, r.Audio), ("pose", poseOn / n, r.Pose), ("motion", motion / n, r.Motion),
                     ("drop_text_audio", dropTA / textActive, r.DropTextAudio), ("drop_text", dropT / textActive, r.DropText) })
        {
            log.WriteLine($"{name}: measured {measured:F4}, config {expected}");
            Assert.True(Math.Abs(measured - expected) < 0.01, $"{name}: measured {measured:F4}, config {expected}");
        }
    }

    [Theory]
    [InlineData(0.5, 0.6, 0.3, 0.2, null, "reference", "must not exceed text")]
    [InlineData(0.9, 0.8, 0.5, 0.6, null, "pose", "must not exceed audio")]
    [InlineData(0.9, 0.9, 0.2, 0.0, 1, "audio", "stage 1 trains text and reference only")]
    [InlineData(0.9, 0.8, 0.5, 0.1, 2, "pose", "stage 2")]
    [InlineData(1.2, 0.8, 0.5, 0.1, null, "text", "[0, 1]")]
    public void Invalid_ratios_name_the_key(double text, double reference, double audio, double pose, int? stage, string key, string why)
    {
        var e = Assert.Throws<ArgumentException>(() => new ConditionRatios { Text = text, Reference = reference, Audio = audio, Pose = pose }.Validate("human.stages[0].ratios", stage));
        Assert.Contains($"human.stages[0].ratios.{key}", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Empty_pools_for_positive_ratios_are_errors()
    {
        var sampler = new OmniConditionSampler(4, [false, false, false, false], [true, true, true, true]);
        var e = Assert.Throws<ArgumentException>(() => sampler.Check(ConditionRatios.Stage(2), "human.stages[1].ratios"));
        Assert.Contains("human.stages[1].ratios.audio", e.Message);
        sampler.Check(ConditionRatios.Stage(1), "stage 1");                                 // no audio needed
    }

    /// <summary>The objective on a tiny case in closed form: with the head's weight zero the velocity is the head bias
    /// laid out over the patch, so loss = mean_b mean over the segment's latents of (bias − (ε − x0))²; it equals that
    /// with reference and motion latents present or absent (they are not loss positions). Catches a loss over the
    /// reference/motion tokens, an x0 target (the draft's bug), a wrong noising.</summary>
    [Fact]
    public void Loss_is_flow_matching_on_the_segment_only_in_closed_form()
    {
        using var _ = torch.NewScope();
        using var m = Tiny(21);
        using var g = new Generator(22);
        using (torch.no_grad())
        {
            m.wan.head.head.weight.zero_();
            m.wan.head.head.bias!.normal_(0, 1, g);
        }
        var (x0, _, ctx, c) = Inputs(m, 2, 2, 4, 4, 23);
        var sigma = torch.tensor(new float[] { 0.3f, 0.8f });
        var noise = torch.randn(x0.shape, generator: g);
        var draws = new ConditionDraw[2];
        var full = HumanFlowMatchingLoss.Compute(m, new HumanBatch(x0, ctx, c, draws), sigma, noise);
        var bare = HumanFlowMatchingLoss.Compute(m, new HumanBatch(x0, ctx, HumanConditions.None, draws), sigma, noise);
        // closed form: every token's vector is the bias, laid out (pt = 1, ph, pw, C) with C fastest, so unpatchified
        // v[b, c, f, 2i + a, 2j + e] = bias[a, e, c]
        var bias = m.wan.head.head.bias!.detach().view(2, 2, 16).permute(2, 0, 1);            // [C, ph, pw]
        var tile = bias.reshape(16, 1, 1, 2, 1, 2).expand(16, 2, 2, 2, 2, 2).reshape(16, 2, 4, 4);   // [C, F, h'·ph, w'·pw]
        var target = noise - x0;
        var perSample = (tile.unsqueeze(0) - target).square().flatten(1).mean(1);             // [B]
        Assert.True(MaxAbs(full.Loss, perSample.mean()) < 1e-5, $"{full.Loss.item<float>()} vs {perSample.mean().item<float>()}");
        Assert.True(MaxAbs(bare.Loss, full.Loss) < 1e-6);
        Assert.Equal(perSample.data<float>().Select(f => (double)f).ToArray(), full.Mse, new Tolerance(1e-5));
    }

    private sealed class Tolerance(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < tol;
        public int GetHashCode(double x) => 0;
    }

    /// <summary>Three stages of a tiny run: the stage follows the step, the loss stays finite, each stage's on-rates follow
    /// its ratios (no audio in stage 1, no pose before stage 3), and a run resumed from a mid-stage checkpoint continues
    /// bit for bit.</summary>
    [Fact]
    public void Three_stages_train_and_resume_exactly()
    {
        using var dir = TestPaths.Temp();
        var spec = new HumanClipSpec(32, 32, 5, ReferenceCandidates: 2);
        var cfg = OmniHumanConfig.Tiny(TextDim, TextLen, AudioDim);
        RandomHumanSamples.Write(dir.File("cache"), 9, spec, 4, AudioDim, TextDim, 31);
        var data = new HumanCachedDataset(LatentCache.Open(dir.File("cache")), new LatentStats(new float[16], Enumerable.Repeat(1f, 16).ToArray()), spec, cfg, 2.0);
        var settings = new HumanTrainerSettings
        {
            Stages = [new(2, ConditionRatios.Stage(1)), new(2, ConditionRatios.Stage(2)), new(2, ConditionRatios.Stage(3) with { Pose = 0.5 })],
            Lr = 1e-3, MicroBatch = 4, Train = "full", GradientCheckpointing = true,
        };
        List<HumanStepStats> Run(int from, int to, string? resume)
        {
            using var m = Tiny(41, nontrivial: false);
            using var t = new OmniHumanTrainer(m, settings, data, 5);
            if (resume is not null) Assert.Equal(from, t.ResumeLatest(resume));
            var stats = new List<HumanStepStats>();
            while (t.Step < to) stats.Add(t.TrainStep());
            if (resume is null) t.SaveCheckpoint(dir.File("ckpt"));
            stats.Add(stats[^1] with { Loss = t.Trainable.Sum(p => p.parameter.detach().abs().sum().item<double>()) });   // parameter fingerprint
            return stats;
        }
        var straight = Run(0, 6, null);
        Assert.Equal([1, 1, 2, 2, 3, 3], straight.Take(6).Select(s => s.Stage));
        Assert.All(straight.Take(6), s => Assert.True(double.IsFinite(s.Loss) && s.Loss > 0));
        Assert.All(straight.Take(2), s => Assert.Equal(0, s.Rates["audio"] + s.Rates["pose"]));
        Assert.All(straight.Take(4), s => Assert.Equal(0, s.Rates["pose"]));
        // resume: the first 3 steps, a checkpoint, then the rest from it
        var part = Run(0, 3, null);
        Directory.Delete(dir.File("ckpt"), true);
        using (var m = Tiny(41, nontrivial: false))
        using (var t = new OmniHumanTrainer(m, settings, data, 5))
        {
            while (t.Step < 3) t.TrainStep();
            t.SaveCheckpoint(dir.File("ckpt"));
        }
        var rest = Run(3, 6, dir.File("ckpt"));
        for (int i = 0; i < 3; i++) Assert.Equal(straight[3 + i].Loss, rest[i].Loss);
        Assert.Equal(straight[^1].Loss, rest[^1].Loss);                                       // same parameters at the end
        GC.KeepAlive(part);
    }
}
