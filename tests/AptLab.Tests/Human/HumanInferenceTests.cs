using AptLab.Diffusion;
using AptLab.Human;
using AptLab.Human.Inference;
using static AptLab.Tests.Human.HumanTestUtil;

namespace AptLab.Tests.Human;

/// <summary>CFG annealing, the guided combinations, the segment plan and the sampler (docs/omnihuman.md#inference).</summary>
public class HumanInferenceTests
{
    /// <summary>The schedules in closed form over 5 steps (6.5 -> 2.0): linear 6.5, 5.375, 4.25, 3.125, 2; cosine
    /// 2 + 4.5 (1 + cos(πk/4)) / 2; constant 6.5; one step: the start.</summary>
    [Fact]
    public void Cfg_annealing_reproduces_the_schedule_numbers()
    {
        var g = new HumanGuidance();
        Assert.Equal([6.5, 5.375, 4.25, 3.125, 2.0], Enumerable.Range(0, 5).Select(k => g.Joint(k, 5)));
        var cos = g with { Shape = "cosine" };
        var expected = Enumerable.Range(0, 5).Select(k => 2 + 4.5 * (1 + Math.Cos(Math.PI * k / 4)) / 2).ToArray();
        for (int k = 0; k < 5; k++) Assert.Equal(expected[k], cos.Joint(k, 5), 12);
        Assert.Equal(5.840990257669732, cos.Joint(1, 5), 12);
        Assert.All(Enumerable.Range(0, 5), k => Assert.Equal(6.5, (g with { Shape = "constant" }).Joint(k, 5)));
        Assert.Equal(6.5, g.Joint(0, 1));
        var sep = g with { Mode = "separate", AudioStart = 8, AudioEnd = 3, TextStart = 5, TextEnd = 1 };
        Assert.Equal([8, 6.75, 5.5, 4.25, 3], Enumerable.Range(0, 5).Select(k => sep.Audio(k, 5)));
        Assert.Equal([5, 4, 3, 2, 1], Enumerable.Range(0, 5).Select(k => sep.Text(k, 5)));
        Assert.Throws<ArgumentException>(() => (g with { Shape = "exponential" }).Validate());
    }

    /// <summary>The combinations on known branch values: joint v∅ + w (v_at − v∅); separate v∅ + wa (v_a − v∅) +
    /// wt (v_at − v_a); without audio v∅t + wt (v_t − v∅t); scale 1 everywhere: one branch.</summary>
    [Fact]
    public void Joint_and_separate_guidance_combine_the_branches()
    {
        using var _ = torch.NewScope();
        Tensor V(float x) => torch.full([1, 2], x);
        var g = new HumanGuidance();
        Assert.Equal([(false, false), (true, true)], g.Branches(audio: true));
        Assert.Equal([(false, false), (false, true)], g.Branches(audio: false));
        Assert.Equal(1 + 6.5 * (3 - 1), g.Combine([V(1), V(3)], true, 0, 5)[0][0].item<float>(), 5);
        Assert.Equal(1 + 2.0 * (3 - 1), g.Combine([V(1), V(3)], true, 4, 5)[0][0].item<float>(), 5);
        var sep = g with { Mode = "separate", AudioStart = 4, AudioEnd = 4, TextStart = 3, TextEnd = 3 };
        Assert.Equal([(false, false), (true, false), (true, true)], sep.Branches(true));
        Assert.Equal(1 + 4 * (2 - 1) + 3 * (5 - 2), sep.Combine([V(1), V(2), V(5)], true, 2, 5)[0][0].item<float>(), 5);
        Assert.Equal(1 + 3 * (5 - 1), sep.Combine([V(1), V(5)], false, 2, 5)[0][0].item<float>(), 5);
        Assert.Equal([(true, true)], (g with { Start = 1, End = 1 }).Branches(true));
    }

    /// <summary>The sampler's batched branches equal separate forwards: step by step by hand with two model calls
    /// (no text, no audio / text and audio) per step, Euler on Wan's grid. Catches swapped branches, a context or an
    /// audio switch applied to the wrong branch, the scale of the wrong step.</summary>
    [Fact]
    public void Sampler_equals_the_joint_guidance_loop_by_hand()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var m = Tiny(31);
        var (x, _, ctx, c) = Inputs(m, 2, 2, 4, 4, 32);
        c = c with { Motion = null };
        var guidance = new HumanGuidance { Start = 5, End = 2 };
        int steps = 3;
        var got = HumanSampler.Sample(m, x, ctx, c, guidance, steps, 3.0);
        var scheduler = FlowMatchScheduler.Wan();
        scheduler.SetTimesteps(steps, 3.0);
        var xi = x.clone();
        for (int i = 0; i < steps; i++)
        {
            var t = torch.full([2], scheduler.ModelTimestep(i), ScalarType.Float32);
            var uncond = m.Forward(xi, t, torch.zeros_like(ctx), c with { Audio = null }).Output;   // audio off = absent
            var cond = m.Forward(xi, t, ctx, c).Output;
            var v = uncond + (cond - uncond) * guidance.Joint(i, steps);
            xi = scheduler.Step(v, i, xi);
        }
        Assert.True(MaxAbs(got, xi) < 1e-4, $"{MaxAbs(got, xi)}");
    }

    /// <summary>Segments of L = 9 frames with M = 5 motion frames for several audio lengths: K = ⌈N / L⌉, segment k
    /// starts at kL, its motion frames are [kL - M, kL), the last keeps N - (K - 1) L frames; N = ⌈samples / 16000 · 25⌉.</summary>
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(9, 1, 9)]
    [InlineData(10, 2, 1)]
    [InlineData(18, 2, 9)]
    [InlineData(100, 12, 1)]
    [InlineData(53, 6, 8)]
    public void Segment_plan_arithmetic(int frames, int segments, int lastKept)
    {
        var plan = SegmentPlan.Create(frames, 9, 5);
        Assert.Equal(segments, plan.Segments.Count);
        Assert.Equal(lastKept, plan.Segments[^1].Kept);
        Assert.Equal(frames, plan.Segments.Sum(s => s.Kept));
        Assert.Equal(segments * 9, plan.GeneratedFrames);
        for (int k = 0; k < segments; k++)
        {
            Assert.Equal(k * 9, plan.Segments[k].Start);
            Assert.Equal(k == 0 ? -1 : k * 9 - 5, plan.Segments[k].MotionStart);
            if (k < segments - 1) Assert.Equal(9, plan.Segments[k].Kept);
        }
    }

    [Theory]
    [InlineData(16000, 25)]      // 1 s
    [InlineData(16001, 26)]      // a sample more starts frame 26
    [InlineData(14400, 23)]      // 0.9 s = 22.5 frames
    [InlineData(640, 1)]
    public void Frames_of_audio(int samples, int frames) => Assert.Equal(frames, SegmentPlan.FramesOfAudio(samples, 16000, 25));

    [Fact]
    public void Bad_segment_settings_are_errors()
    {
        Assert.Throws<ArgumentException>(() => SegmentPlan.Create(10, 8, 5));                  // not 1 + 4k
        Assert.Throws<ArgumentException>(() => SegmentPlan.Create(10, 5, 9));                  // motion longer than a segment
        Assert.Throws<ArgumentException>(() => SegmentPlan.Create(0, 9, 5));
    }
}
