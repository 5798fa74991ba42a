namespace AptLab.Diffusion;

/// <summary>A sampling schedule as Wan's own schedulers build it: float32 sigmas (N + 1, last 0) and int64
/// timesteps (N) that the model receives.</summary>
public sealed record WanSchedule(float[] Sigmas, long[] Timesteps, double[] SigmasFloat64);

/// <summary>
/// The sigma/timestep grids of Wan's official samplers (docs/flow-matching.md#unipc, docs/flow-matching.md#schedules), reproduced with numpy's float64
/// arithmetic: <c>linspace</c> as <c>i*step + start</c> with the end point set exactly, the shift warp, then
/// int64 truncation of <c>1000 sigma</c> and a float32 copy of the sigmas.
/// </summary>
public static class WanSchedules
{
    /// <summary>sigma_max of Wan's flow schedulers: the float32 value of the training grid's first sigma,
    /// <c>1 - 1/1000</c> (0.9990000128746033).</summary>
    public static double SigmaMax(int numTrainTimesteps = 1000) => (float)(1.0 - 1.0 / numTrainTimesteps);

    /// <summary><c>FlowUniPCMultistepScheduler.set_timesteps(N, shift)</c>:
    /// <c>shift(linspace(sigma_max, 0, N + 1)[:-1])</c>, t = trunc(1000 sigma).</summary>
    public static WanSchedule UniPC(int steps, double shift, int numTrainTimesteps = 1000) =>
        Build(NpLinspace(SigmaMax(numTrainTimesteps), 0.0, steps + 1)[..steps], shift, numTrainTimesteps);

    /// <summary>The <c>dpm++</c> grid: <c>get_sampling_sigmas(N, shift) = shift(linspace(1, 0, N + 1)[:N])</c>,
    /// passed to the scheduler (configured with shift 1, which leaves it unchanged).</summary>
    public static WanSchedule DpmPlusPlus(int steps, double shift, int numTrainTimesteps = 1000)
    {
        var sampling = Array.ConvertAll(NpLinspace(1.0, 0.0, steps + 1)[..steps], s => FlowMatch.Shift(s, shift));
        return Build(sampling, 1.0, numTrainTimesteps);
    }

    private static WanSchedule Build(double[] baseSigmas, double shift, int numTrainTimesteps)
    {
        if (baseSigmas.Length == 0) throw new ArgumentException("a schedule needs at least one step");
        if (!(shift > 0)) throw new ArgumentException($"shift must be positive, got {shift}");
        var s = Array.ConvertAll(baseSigmas, v => FlowMatch.Shift(v, shift));
        var t = Array.ConvertAll(s, v => (long)FlowMatch.Timestep(v, numTrainTimesteps));   // truncation toward zero
        var f = new float[s.Length + 1];
        for (int i = 0; i < s.Length; i++) f[i] = (float)s[i];
        f[^1] = 0f;                                                                        // final_sigmas_type "zero"
        return new WanSchedule(f, t, s);
    }

    /// <summary>numpy.linspace(start, stop, num) with endpoint: <c>i*step + start</c>, last value = stop.</summary>
    internal static double[] NpLinspace(double start, double stop, int num)
    {
        if (num < 1) throw new ArgumentException($"linspace needs at least one point, got {num}");
        var y = new double[num];
        if (num == 1) { y[0] = start; return y; }
        int div = num - 1;
        double delta = stop - start;
        double step = delta / div;
        for (int i = 0; i < num; i++) y[i] = step == 0 ? i / (double)div * delta + start : i * step + start;
        y[^1] = stop;
        return y;
    }
}
