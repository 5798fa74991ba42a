namespace AptLab.Wan;

/// <summary>
/// TeaCache as OmniAvatar / DiffSynth implement it for Wan (docs/omniavatar.md#teacache), one object per CFG pass and chunk.
/// At each DiT call it compares the time projection <c>t_mod</c> [B, 6, dim] with the previous call's:
/// <c>rel = mean|t_mod − prev| / mean|prev|</c>, accumulates <c>poly(rel)</c> and skips the blocks while the sum
/// stays below the threshold, reusing the last computed residual <c>blocks(x) − x</c>. The first and the last
/// step of the chunk are always computed. A threshold ≤ 0 never skips (upstream creates no cache then).
/// It is a <see cref="WanHook"/>: the sampler passes it to the DiT's forward (<see cref="SkipBlocks"/> decides and
/// supplies the cached output, <see cref="AfterBlocks"/> stores the residual); the model knows nothing of it.
/// </summary>
public sealed class TeaCache : WanHook, IDisposable
{
    /// <summary>Rescaling polynomials (highest power first) per model id; OmniAvatar always uses Wan2.1-T2V-14B's.</summary>
    public static readonly IReadOnlyDictionary<string, double[]> Coefficients = new Dictionary<string, double[]>
    {
        ["Wan2.1-T2V-1.3B"] = [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02],
        ["Wan2.1-T2V-14B"] = [-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01],
        ["Wan2.1-I2V-14B-480P"] = [2.57151496e+05, -3.54229917e+04, 1.40286849e+03, -1.35890334e+01, 1.32517977e-01],
        ["Wan2.1-I2V-14B-720P"] = [8.10705460e+03, 2.13393892e+03, -3.72934672e+02, 1.66203073e+01, -4.17769401e-02],
    };

    public int NumSteps { get; }
    public double Threshold { get; }
    private readonly double[] coefficients;
    private int step;
    private double accumulated;
    private Tensor? previousModulation;    // [B, 6, dim]
    private Tensor? residual;              // [B, S, dim]

    /// <summary>Calls that reused the residual / ran the blocks.</summary>
    public int Skipped { get; private set; }
    public int Computed { get; private set; }

    /// <summary>The cached residual of the last computed call, [B, S, dim].</summary>
    public Tensor? Residual => residual;

    public TeaCache(int numSteps, double threshold, string modelId = "Wan2.1-T2V-14B")
    {
        if (numSteps <= 0) throw new ArgumentException($"TeaCache: numSteps must be positive, got {numSteps}");
        if (!Coefficients.TryGetValue(modelId, out var c))
            throw new ArgumentException($"TeaCache: unknown model id '{modelId}' (known: {string.Join(", ", Coefficients.Keys)})");
        (NumSteps, Threshold, coefficients) = (numSteps, threshold, c);
    }

    /// <summary>poly(r) = c0 r⁴ + c1 r³ + c2 r² + c3 r + c4.</summary>
    public double Rescale(double r) => (((coefficients[0] * r + coefficients[1]) * r + coefficients[2]) * r + coefficients[3]) * r + coefficients[4];

    /// <summary>Decides one call from its time projection <paramref name="tMod"/> [B, 6, dim]: true = skip the blocks
    /// and add <see cref="Residual"/>. Always advances the step counter and remembers <paramref name="tMod"/>.</summary>
    public bool Check(Tensor tMod)
    {
        bool skip;
        if (step == 0 || step == NumSteps - 1 || previousModulation is null || residual is null || Threshold <= 0)
        {
            skip = false;
            accumulated = 0;
        }
        else
        {
            using var scope = torch.NewScope();
            var prev = previousModulation;
            double rel = ((tMod - prev).abs().mean() / prev.abs().mean()).to(ScalarType.Float64).item<double>();
            accumulated += Rescale(rel);
            skip = accumulated < Threshold;
            if (!skip) accumulated = 0;
        }
        previousModulation?.Dispose();
        previousModulation = tMod.detach().clone().DetachFromScope();
        step = step + 1 == NumSteps ? 0 : step + 1;
        if (skip) Skipped++;
        return skip;
    }

    /// <summary>After a computed call: residual = <paramref name="output"/> − <paramref name="input"/> (tokens after
    /// the patch embedding, before any block or audio term).</summary>
    public void Store(Tensor input, Tensor output)
    {
        Computed++;
        using var scope = torch.NewScope();
        var r = (output - input).detach();
        residual?.Dispose();
        residual = r.DetachFromScope();
    }

    /// <summary>The hook: <see cref="Check"/> on the time projection; a skipped call returns x + the cached residual.</summary>
    public override Tensor? SkipBlocks(Tensor x, Tensor e0) => Check(e0) ? x + residual! : null;

    /// <summary>The hook: <see cref="Store"/> the residual of the computed block stack.</summary>
    public override void AfterBlocks(Tensor input, Tensor output) => Store(input, output);

    public void Dispose()
    {
        previousModulation?.Dispose();
        residual?.Dispose();
    }
}
