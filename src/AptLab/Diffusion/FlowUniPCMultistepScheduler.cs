namespace AptLab.Diffusion;

/// <summary>
/// Wan's default sampler, <c>FlowUniPCMultistepScheduler</c> (docs/flow-matching.md#unipc): UniPC with the bh2 variant,
/// x0-prediction, solver order 2, lower_order_final, final sigma 0, no disabled correctors. Each step first
/// corrects the current sample with the new model output (UniC, from the second step on), then predicts the next
/// sample (UniP). The model receives the int64-truncated timesteps (<see cref="Timesteps"/>); the math uses the
/// float32 sigmas. Coefficients are scalars computed in float64; tensors stay in their dtype.
/// </summary>
public sealed class FlowUniPCMultistepScheduler : ISampler
{
    public int NumTrainTimesteps { get; }
    public int SolverOrder { get; }
    public bool LowerOrderFinal { get; }
    /// <summary>The shift used when <see cref="SetTimesteps(int, double)"/> gets none (the official pipelines
    /// construct the scheduler with shift 1 and pass the real shift to set_timesteps).</summary>
    public double DefaultShift { get; }

    private WanSchedule schedule = new([0f], [], []);
    // multistep state
    private readonly List<Tensor> modelOutputs = new();   // x0 predictions m_{k-1}, m_k (newest last)
    private Tensor? lastSample;
    private int lowerOrderNums, thisOrder;
    private int? stepIndex;

    public FlowUniPCMultistepScheduler(int numTrainTimesteps = 1000, int solverOrder = 2, bool lowerOrderFinal = true, double shift = 1.0)
    {
        if (solverOrder is < 1 or > 2) throw new ArgumentException($"FlowUniPCMultistepScheduler: solverOrder must be 1 or 2, got {solverOrder}");
        if (numTrainTimesteps <= 0) throw new ArgumentException($"FlowUniPCMultistepScheduler: numTrainTimesteps must be positive, got {numTrainTimesteps}");
        (NumTrainTimesteps, SolverOrder, LowerOrderFinal, DefaultShift) = (numTrainTimesteps, solverOrder, lowerOrderFinal, shift);
    }

    /// <summary>The official timesteps <c>trunc(1000 sigma)</c> (int64, what the DiT receives), in sampling order.</summary>
    public IReadOnlyList<double> Timesteps => Array.ConvertAll(schedule.Timesteps, t => (double)t);
    public IReadOnlyList<long> IntTimesteps => schedule.Timesteps;
    public IReadOnlyList<float> Sigmas => schedule.Sigmas;
    /// <summary>Index of the next step (null before the first call to <see cref="Step"/>).</summary>
    public int? StepIndex => stepIndex;

    public void SetTimesteps(int steps, double shift)
    {
        if (steps <= 0) throw new ArgumentException($"FlowUniPCMultistepScheduler: steps must be positive, got {steps}");
        schedule = WanSchedules.UniPC(steps, shift, NumTrainTimesteps);
        Reset();
    }

    public void SetTimesteps(int steps) => SetTimesteps(steps, DefaultShift);

    public void Reset()
    {
        foreach (var m in modelOutputs) m.Dispose();
        modelOutputs.Clear();
        lastSample?.Dispose();
        lastSample = null;
        lowerOrderNums = 0;
        thisOrder = 0;
        stepIndex = null;
    }

    public int Steps => schedule.Timesteps.Length;

    public double ModelTimestep(int index) => schedule.Timesteps[index];

    public Tensor Step(Tensor velocity, int index, Tensor sample)
    {
        int n = schedule.Timesteps.Length;
        if (n == 0) throw new InvalidOperationException("FlowUniPCMultistepScheduler: call SetTimesteps before Step");
        if (index < 0 || index >= n) throw new ArgumentException($"FlowUniPCMultistepScheduler: step {index} is outside the {n} steps of the schedule");
        if (stepIndex is int expected && index != expected)
            throw new ArgumentException($"FlowUniPCMultistepScheduler: step {index} given, step {expected} is next (steps run in order; call Reset to restart)");
        stepIndex = index;
        int k = index;

        using var scope = torch.NewScope();
        var x0 = FlowMatch.X0(sample, velocity, Sigma(k)).DetachFromScope();            // m_k = x_k - sigma_k v_k
        var x = sample;
        if (k > 0 && lastSample is not null) x = Corrector(x0, lastSample, sample, thisOrder);

        modelOutputs.Add(x0);
        if (modelOutputs.Count > SolverOrder) { modelOutputs[0].Dispose(); modelOutputs.RemoveAt(0); }

        int order = LowerOrderFinal ? Math.Min(SolverOrder, n - k) : SolverOrder;
        thisOrder = Math.Min(order, lowerOrderNums + 1);                                   // warm-up
        lastSample?.Dispose();
        lastSample = (ReferenceEquals(x, sample) ? sample.clone() : x).DetachFromScope();
        var next = Predictor(lastSample, k, thisOrder);
        if (lowerOrderNums < SolverOrder) lowerOrderNums++;
        stepIndex = k + 1;
        return scope.Keep(next);
    }

    private double Sigma(int i) => schedule.Sigmas[i];
    private static double Lambda(double sigma) => Math.Log(1 - sigma) - Math.Log(sigma);   // log alpha - log sigma

    /// <summary>UniP (bh2): x_{k+1} = (s_{k+1}/s_k) x - a_{k+1} expm1(-h) m_k [- a_{k+1} B 0.5 D1] for order 2.</summary>
    private Tensor Predictor(Tensor x, int k, int order)
    {
        double sT = Sigma(k + 1), s0 = Sigma(k);
        var m0 = modelOutputs[^1];
        if (sT == 0) return m0.clone();                  // h = inf: phi1 = -1, order 1 -> exactly the x0 prediction
        double aT = 1 - sT;
        double lT = Lambda(sT), l0 = Lambda(s0);
        double h = lT - l0, hh = -h;
        double phi1 = Math.Exp(hh) - 1;                  // expm1(hh), B_h for bh2
        var xt = x * (sT / s0) - m0 * (aT * phi1);
        if (order == 2)
        {
            var m1 = modelOutputs[^2];
            double rk = (Lambda(Sigma(k - 1)) - l0) / h;
            var d1 = (m1 - m0) / rk;
            xt = xt - d1 * (aT * phi1 * 0.5);            // rhos_p = [0.5]
        }
        return xt;
    }

    /// <summary>UniC (bh2) at step k: corrects x_k using the new x0 prediction m_k and the history.</summary>
    private Tensor Corrector(Tensor mT, Tensor xLast, Tensor xThis, int order)
    {
        int k = stepIndex!.Value;
        double sT = Sigma(k), s0 = Sigma(k - 1);
        var m0 = modelOutputs[^1];                       // m_{k-1}
        double aT = 1 - sT;
        double lT = Lambda(sT), l0 = Lambda(s0);
        double h = lT - l0, hh = -h;
        double phi1 = Math.Exp(hh) - 1, bH = phi1;
        var xt = xLast * (sT / s0) - m0 * (aT * phi1);
        var d1t = mT - m0;
        if (order == 1)
            return xt - d1t * (aT * bH * 0.5);           // rhos_c = [0.5]
        // order 2: solve [[1, 1], [r, 1]] rho = [g1/B, 2 g2/B]
        var m1 = modelOutputs[^2];                       // m_{k-2}
        double rk = (Lambda(Sigma(k - 2)) - l0) / h;
        double g1 = phi1 / hh - 1;
        double g2 = g1 / hh - 0.5;
        double b1 = g1 / bH, b2 = g2 * 2 / bH;
        double rho1 = (b2 - rk * b1) / (1 - rk);         // rho_1 (weight of the new term)
        double rho0 = b1 - rho1;
        var d1 = (m1 - m0) / rk;
        return xt - (d1 * rho0 + d1t * rho1) * (aT * bH);
    }
}
