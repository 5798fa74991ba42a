using AptLab.Diffusion;

namespace AptLab.Tests.Diffusion;

/// <summary>
/// The FlowMatchScheduler options the reference cases do not exercise (docs/flow-matching.md#schedules), against the
/// closed form of the grid computed here in float64: <c>start = sigma_min + (sigma_max - sigma_min) strength</c>,
/// <c>linspace(start, sigma_min, N (+1 with extra_one_step, last dropped))</c>, flipped for inverse timesteps,
/// <c>shift(s) = k s / (1 + (k - 1) s)</c>, <c>1 - s</c> for reversed sigmas, <c>t = T s</c>; the final level 0, or 1
/// for inverse/reversed grids. Also every argument check at its edge, nearest-timestep ties, and bf16 rounding ties.
/// </summary>
public class FlowMatchSchedulerOptionsTests
{
    private static double[] ClosedForm(int n, double strength, double shift, double sigmaMin, double sigmaMax,
        bool inverse, bool extra, bool reverse)
    {
        double start = sigmaMin + (sigmaMax - sigmaMin) * strength;
        int points = extra ? n + 1 : n;
        var s = Enumerable.Range(0, n).Select(i => points == 1 ? start : start + (sigmaMin - start) * i / (points - 1)).ToArray();
        if (inverse) Array.Reverse(s);
        s = s.Select(v => shift * v / (1 + (shift - 1) * v)).ToArray();
        return reverse ? s.Select(v => 1 - v).ToArray() : s;
    }

    public static TheoryData<int, double, double, bool, bool, bool> Grids => new()
    {
        // steps, strength, shift, inverse, extra_one_step, reverse
        { 6, 0.6, 3.0, false, false, false },
        { 5, 0.35, 5.0, false, true, false },
        { 4, 1.0, 2.0, true, false, false },
        { 7, 0.8, 3.0, false, false, true },
        { 3, 0.5, 1.5, true, true, true },
    };

    [Theory]
    [MemberData(nameof(Grids))]
    public void Grid_timesteps_final_level_and_steps_follow_the_closed_form(int n, double strength, double shift, bool inverse, bool extra, bool reverse)
    {
        const double sigmaMin = 0.05, sigmaMax = 0.9;
        const int train = 800;
        var sch = new FlowMatchScheduler(numInferenceSteps: 2, numTrainTimesteps: train, shift: shift, sigmaMax: sigmaMax,
            sigmaMin: sigmaMin, inverseTimesteps: inverse, extraOneStep: extra, reverseSigmas: reverse);
        sch.SetTimesteps(n, denoisingStrength: strength);   // named: SetTimesteps(int, double) is the shift overload
        var want = ClosedForm(n, strength, shift, sigmaMin, sigmaMax, inverse, extra, reverse);
        Assert.Equal(n, sch.Steps);
        Assert.Equal(n + 1, sch.Sigmas.Count);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(want[i], sch.Sigmas[i], 5e-7);
            Assert.Equal(train * want[i], sch.Timesteps[i], 5e-4);
            Assert.Equal(want[i], sch.SigmaAt(sch.Timesteps[i]), 5e-7);
        }
        float final = inverse || reverse ? 1f : 0f;
        Assert.Equal(final, sch.Sigmas[n]);

        // Euler from each grid point to the next, the last one to the final level: x + v (sigma_next - sigma)
        using var scope = torch.NewScope();
        var x = torch.tensor(new float[] { 0.5f, -1.25f });
        var v = torch.tensor(new float[] { 2f, 3f });
        for (int i = 0; i < n; i++)
        {
            double next = i + 1 < n ? sch.Sigmas[i + 1] : final;
            var y = sch.Step(v, i, x).data<float>();
            Assert.Equal(0.5 + 2 * (next - sch.Sigmas[i]), y[0], 1e-6);
            Assert.Equal(-1.25 + 3 * (next - sch.Sigmas[i]), y[1], 1e-6);
        }
    }

    [Fact]
    public void Noising_and_training_helpers_use_the_nearest_grid_sigma_and_weight()
    {
        var sch = new FlowMatchScheduler(numInferenceSteps: 4, shift: 1, sigmaMin: 0);
        sch.SetTimesteps(4, training: true);                        // sigmas 1, 2/3, 1/3, 0; t 1000, 666.7, 333.3, 0
        using var scope = torch.NewScope();
        var x0 = torch.tensor(new float[] { 1f, -2f });
        var noise = torch.tensor(new float[] { 3f, 0.5f });
        var xt = sch.AddNoise(x0, noise, 650).data<float>();        // nearest: 666.7 -> sigma 2/3
        Assert.Equal(1 / 3.0 * 1 + 2 / 3.0 * 3, xt[0], 1e-6);
        Assert.Equal(1 / 3.0 * -2 + 2 / 3.0 * 0.5, xt[1], 1e-6);
        Assert.Equal(new[] { 2f, 2.5f }, sch.TrainingTarget(x0, noise).data<float>());
        // y = exp(-2 ((t - N/2) / N)^2) over the grid's t, w = (y - min y) N / sum(y - min y)
        var y = sch.Timesteps.Select(t => Math.Exp(-2 * Math.Pow((t - 2) / 4, 2))).ToArray();
        var w = y.Select(v => (v - y.Min()) * 4 / y.Sum(u => u - y.Min())).ToArray();
        for (int i = 0; i < 4; i++) Assert.Equal(w[i], sch.TrainingWeights[i], 1e-6);
        Assert.Equal(w[2], sch.TrainingWeight(340), 1e-6);
        // a later grid without training: no weights until asked for again
        sch.SetTimesteps(4);
        Assert.Throws<InvalidOperationException>(() => sch.TrainingWeights);
    }

    [Fact]
    public void Nearest_timestep_takes_the_first_on_ties()
    {
        var sch = new FlowMatchScheduler(numInferenceSteps: 3, shift: 1, sigmaMin: 0);   // t = 1000, 500, 0
        Assert.Equal(new[] { 1000.0, 500, 0 }, sch.Timesteps);
        Assert.Equal(0, sch.IndexOf(750));
        Assert.Equal(1, sch.IndexOf(250));
        Assert.Equal(1, sch.IndexOf(749));
        Assert.Equal(0, sch.IndexOf(2000));
        Assert.Equal(2, sch.IndexOf(-5));
    }

    [Fact]
    public void The_shift_overload_sets_the_shift_that_later_grids_keep()
    {
        var sch = new FlowMatchScheduler(numInferenceSteps: 2, shift: 3, sigmaMin: 0);
        sch.SetTimesteps(3, 7.0);
        Assert.Equal(7.0, sch.Shift);
        sch.SetTimesteps(3);
        Assert.Equal(7.0, sch.Shift);
        Assert.Equal(7 * 0.5 / (1 + 6 * 0.5), sch.Sigmas[1], 1e-7);
    }

    [Fact]
    public void Every_argument_check_holds_at_its_edge()
    {
        FlowMatchScheduler Make(int steps = 2, int train = 1000, double shift = 3, double max = 1, double min = 0) =>
            new(steps, train, shift, max, min);
        // accepted at the edge
        Make(steps: 1);
        Make(train: 1);
        Make(max: 1, min: 0);
        Make(max: 0.5, min: 0.4999);
        var ok = Make();
        ok.SetTimesteps(1, denoisingStrength: 1.0);
        ok.SetTimesteps(2, denoisingStrength: 1e-6);
        ok.SetTimesteps(2, 1.0, shift: 1e-9);
        // refused, naming what
        Assert.Contains("steps", Assert.Throws<ArgumentException>(() => Make(steps: 0)).Message);
        Assert.Contains("numTrainTimesteps", Assert.Throws<ArgumentException>(() => Make(train: 0)).Message);
        Assert.Contains("sigmaMin", Assert.Throws<ArgumentException>(() => Make(min: -1e-9)).Message);
        Assert.Contains("sigmaMax", Assert.Throws<ArgumentException>(() => Make(max: 1 + 1e-9)).Message);
        Assert.Throws<ArgumentException>(() => Make(max: 0.3, min: 0.3));
        Assert.Contains("steps", Assert.Throws<ArgumentException>(() => ok.SetTimesteps(0)).Message);
        Assert.Contains("denoisingStrength", Assert.Throws<ArgumentException>(() => ok.SetTimesteps(2, denoisingStrength: 0.0)).Message);
        Assert.Contains("denoisingStrength", Assert.Throws<ArgumentException>(() => ok.SetTimesteps(2, denoisingStrength: 1 + 1e-9)).Message);
        Assert.Contains("shift", Assert.Throws<ArgumentException>(() => ok.SetTimesteps(2, 1.0, shift: 0)).Message);
        // a refused call leaves the grid as it was
        Assert.Equal(2, ok.Steps);
        using var scope = torch.NewScope();
        var z = torch.zeros(2);
        ok.Step(z, 0, z);
        ok.Step(z, 1, z);
        Assert.Contains("step -1", Assert.Throws<ArgumentException>(() => ok.Step(z, -1, z)).Message);
        Assert.Contains("step 2", Assert.Throws<ArgumentException>(() => ok.Step(z, 2, z)).Message);
    }

    [Fact]
    public void Bfloat16_rounding_is_to_nearest_with_ties_to_even()
    {
        // bf16 keeps 7 mantissa bits: near 1 the spacing is 2^-7
        double u = Math.Pow(2, -7);
        Assert.Equal(1.0, FlowMatch.RoundToBFloat16(1 + u / 2));                 // tie, 1 is even
        Assert.Equal(1 + 2 * u, FlowMatch.RoundToBFloat16(1 + 1.5 * u));         // tie, 1 + 2u is even
        Assert.Equal(1 + u, FlowMatch.RoundToBFloat16(1 + u / 2 + Math.Pow(2, -20)));  // above the tie
        Assert.Equal(1.0, FlowMatch.RoundToBFloat16(1 + u / 2 - Math.Pow(2, -20)));    // below it
        Assert.Equal(-1.0, FlowMatch.RoundToBFloat16(-(1 + u / 2)));
        Assert.Equal(996.0, FlowMatch.RoundToBFloat16(995.935));
        Assert.True(double.IsNaN(FlowMatch.RoundToBFloat16(double.NaN)));
    }
}
