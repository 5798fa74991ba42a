namespace AptLab.Diffusion;

/// <summary>
/// DiffSynth's / OmniAvatar's <c>FlowMatchScheduler</c> (docs/flow-matching.md#schedules, docs/omniavatar.md#sampling): a shifted linear
/// sigma grid, float (not truncated) timesteps <c>t = 1000 sigma</c>, the Euler step, and the training
/// helpers (<see cref="AddNoise"/>, <see cref="TrainingTarget"/>, <see cref="TrainingWeight"/>).
/// The grid is computed with libtorch's float32 <c>linspace</c> and float32 arithmetic, exactly as upstream.
/// For Wan use <see cref="Wan"/>: shift 5, sigma_min 0, extra_one_step.
/// </summary>
public sealed class FlowMatchScheduler : ISampler
{
    public int NumTrainTimesteps { get; }
    public double Shift { get; private set; }
    public double SigmaMax { get; }
    public double SigmaMin { get; }
    public bool InverseTimesteps { get; }
    public bool ExtraOneStep { get; }
    public bool ReverseSigmas { get; }

    /// <summary>Feed the model bf16-rounded timesteps through <see cref="ModelTimestep"/> (OmniAvatar's and
    /// DiffSynth's pipelines cast the timestep to bf16; the step itself keeps the float32 grid).</summary>
    public bool ModelTimestepsInBFloat16 { get; init; }

    private float[] sigmas = [];
    private float[] timesteps = [];
    private float[]? weights;

    /// <param name="numInferenceSteps">initial grid size (the upstream constructor default is 100)</param>
    public FlowMatchScheduler(int numInferenceSteps = 100, int numTrainTimesteps = 1000, double shift = 3.0,
        double sigmaMax = 1.0, double sigmaMin = 0.003 / 1.002, bool inverseTimesteps = false,
        bool extraOneStep = false, bool reverseSigmas = false)
    {
        if (numTrainTimesteps <= 0) throw new ArgumentException($"FlowMatchScheduler: numTrainTimesteps must be positive, got {numTrainTimesteps}");
        if (!(sigmaMin >= 0 && sigmaMax > sigmaMin && sigmaMax <= 1))
            throw new ArgumentException($"FlowMatchScheduler: need 0 <= sigmaMin < sigmaMax <= 1, got sigmaMin {sigmaMin}, sigmaMax {sigmaMax}");
        (NumTrainTimesteps, Shift, SigmaMax, SigmaMin) = (numTrainTimesteps, shift, sigmaMax, sigmaMin);
        (InverseTimesteps, ExtraOneStep, ReverseSigmas) = (inverseTimesteps, extraOneStep, reverseSigmas);
        SetTimesteps(numInferenceSteps);
    }

    /// <summary>The scheduler the Wan pipelines of DiffSynth and OmniAvatar build:
    /// <c>FlowMatchScheduler(shift=5, sigma_min=0.0, extra_one_step=True)</c>.</summary>
    public static FlowMatchScheduler Wan(bool modelTimestepsInBFloat16 = false) =>
        new(shift: 5, sigmaMin: 0.0, extraOneStep: true) { ModelTimestepsInBFloat16 = modelTimestepsInBFloat16 };

    /// <summary>The grid's timesteps <c>t = 1000 sigma</c> (float32, as upstream), in sampling order.</summary>
    public IReadOnlyList<double> Timesteps => Array.ConvertAll(timesteps, t => (double)t);

    public int Steps => timesteps.Length;

    /// <summary>The grid sigmas followed by the final level (0, or 1 for inverse/reversed grids).</summary>
    public IReadOnlyList<float> Sigmas => [.. sigmas, FinalSigma];

    /// <summary>BSMNTW training weights of the grid (after <c>SetTimesteps(..., training: true)</c>).</summary>
    public IReadOnlyList<float> TrainingWeights =>
        weights ?? throw new InvalidOperationException("FlowMatchScheduler: call SetTimesteps(n, training: true) before asking for training weights");

    private float FinalSigma => InverseTimesteps || ReverseSigmas ? 1f : 0f;

    public double ModelTimestep(int index) =>
        ModelTimestepsInBFloat16 ? FlowMatch.RoundToBFloat16(timesteps[index]) : timesteps[index];

    public void SetTimesteps(int steps, double shift) => SetTimesteps(steps, 1.0, false, shift);

    /// <summary>
    /// <c>sigma_start = sigma_min + (sigma_max - sigma_min) strength</c>; sigmas = float32
    /// <c>linspace(sigma_start, sigma_min, N + 1)[:-1]</c> (extra_one_step) or <c>linspace(.., N)</c>; shifted;
    /// <c>t = 1000 sigma</c>. With <paramref name="training"/> also the weights
    /// <c>y = exp(-2 ((t - N/2)/N)^2); w = (y - min y) N / sum(y - min y)</c>.
    /// </summary>
    public void SetTimesteps(int steps, double denoisingStrength = 1.0, bool training = false, double? shift = null)
    {
        if (steps <= 0) throw new ArgumentException($"FlowMatchScheduler: steps must be positive, got {steps}");
        if (!(denoisingStrength > 0 && denoisingStrength <= 1))
            throw new ArgumentException($"FlowMatchScheduler: denoisingStrength must be in (0, 1], got {denoisingStrength}");
        if (shift is double s0 && !(s0 > 0)) throw new ArgumentException($"FlowMatchScheduler: shift must be positive, got {s0}");
        if (shift is not null) Shift = shift.Value;
        using var scope = torch.NewScope();
        double start = SigmaMin + (SigmaMax - SigmaMin) * denoisingStrength;
        var s = ExtraOneStep ? torch.linspace(start, SigmaMin, steps + 1).narrow(0, 0, steps)
                             : torch.linspace(start, SigmaMin, steps);                        // [N] float32
        if (InverseTimesteps) s = s.flip(0);
        s = FlowMatch.Shift(s, Shift);
        if (ReverseSigmas) s = 1.0 - s;
        var t = FlowMatch.Timestep(s, NumTrainTimesteps);
        sigmas = s.contiguous().data<float>();
        timesteps = t.contiguous().data<float>();
        weights = null;
        if (training)
        {
            // upstream: (x - N/2) / N with N = the grid size, ** 2, * -2, exp; y - y.min(); * (N / sum) = reciprocal(sum) * N
            var y = ((t - steps / 2.0) / (long)steps).pow(2L) * -2L;
            y = y.exp();
            var shifted = y - y.min();
            var w = shifted * (shifted.sum().reciprocal() * (long)steps);
            weights = w.contiguous().data<float>();
        }
    }

    /// <summary>Index of the grid timestep nearest to <paramref name="t"/> (first on ties), in float32.</summary>
    public int IndexOf(double t)
    {
        float tf = (float)t;
        int best = 0;
        float bestD = float.PositiveInfinity;
        for (int k = 0; k < timesteps.Length; k++)
        {
            float d = MathF.Abs(timesteps[k] - tf);
            if (d < bestD) (best, bestD) = (k, d);
        }
        return best;
    }

    /// <summary>Euler (<see cref="FlowMatch.EulerStep(Tensor, Tensor, double, double)"/>) from sigma_index to the next
    /// grid point, or to the final level after the last one.</summary>
    public Tensor Step(Tensor velocity, int index, Tensor sample)
    {
        if (index < 0 || index >= sigmas.Length)
            throw new ArgumentException($"FlowMatchScheduler: step {index} is outside the {sigmas.Length} steps of the schedule");
        float next = index + 1 >= sigmas.Length ? FinalSigma : sigmas[index + 1];
        return FlowMatch.EulerStep(sample, velocity, sigmas[index], next);
    }

    public void Reset() { }

    /// <summary><c>(1 - sigma) x0 + sigma noise</c> with sigma of the grid point nearest to <paramref name="t"/>.</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, double t) => FlowMatch.AddNoise(x0, noise, sigmas[IndexOf(t)]);

    /// <summary>The velocity target <c>noise - x0</c>.</summary>
    public Tensor TrainingTarget(Tensor x0, Tensor noise) => FlowMatch.Velocity(x0, noise);

    /// <summary>Weight of the grid point nearest to <paramref name="t"/>.</summary>
    public float TrainingWeight(double t) => TrainingWeights[IndexOf(t)];

    /// <summary>Sigma of the grid point nearest to <paramref name="t"/>.</summary>
    public float SigmaAt(double t) => sigmas[IndexOf(t)];
}
