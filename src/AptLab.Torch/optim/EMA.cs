using AptLab.Torch.nn;

namespace AptLab.Torch.optim;

/// <summary>
/// Exponential moving average of a model's weights: shadow copies of every parameter updated with
/// <c>ema = decay * ema + (1 - decay) * param</c> (as <c>ema.lerp_(param, 1 - decay)</c>) and of every buffer
/// (copied as they are). Shadows are keyed by the model's state-dict names, so <see cref="state_dict"/> is a
/// model checkpoint that loads into the same architecture. Optional warmup uses
/// decay_n = min(decay, (1 + n) / (10 + n)) after n earlier updates (the diffusers/TF convention).
/// <para>Shadows of floating-point tensors narrower than float32 (bfloat16, float16) are kept in float32: with
/// decay 0.995 the increment (1 - decay)(param - ema) is far below bfloat16's resolution and a bfloat16 shadow would
/// never move. The source may also be named tensors (float32 masters, or this rank's flat shards under fully sharded
/// training) instead of a module.</para>
/// </summary>
public sealed class EMA : IDisposable
{
    private readonly Dictionary<string, Tensor> shadowParams = new();
    private readonly Dictionary<string, Tensor> shadowBuffers = new();
    private readonly bool tracksBuffers;            // built from a module (not from named tensors)

    public double decay { get; set; }
    public bool use_warmup { get; set; }

    /// <summary>Number of updates applied so far (store it with the checkpoint to resume the warmup).</summary>
    public long num_updates { get; set; }

    public EMA(Module model, double decay = 0.9999, bool use_warmup = false)
    {
        if (!(decay >= 0 && decay <= 1)) throw new ArgumentException($"EMA: decay must be in [0, 1], got {decay}");
        this.decay = decay;
        this.use_warmup = use_warmup;
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters()) shadowParams[name] = ShadowOf(p);
        foreach (var (name, b) in model.named_buffers()) shadowBuffers[name] = b.clone().DetachFromScope();
        tracksBuffers = true;
    }

    /// <summary>An EMA of named tensors (e.g. float32 master weights), without buffers.</summary>
    public EMA(IEnumerable<(string name, Tensor tensor)> parameters, double decay = 0.9999, bool use_warmup = false)
    {
        if (!(decay >= 0 && decay <= 1)) throw new ArgumentException($"EMA: decay must be in [0, 1], got {decay}");
        this.decay = decay;
        this.use_warmup = use_warmup;
        using var _ = torch.no_grad();
        foreach (var (name, p) in parameters)
            if (!shadowParams.TryAdd(name, ShadowOf(p))) throw new ArgumentException($"EMA: the name '{name}' appears twice");
    }

    /// <summary>The dtype a shadow of <paramref name="dtype"/> is kept in: at least float32 for floating point.</summary>
    public static ScalarType ShadowDtype(ScalarType dtype) =>
        dtype is ScalarType.BFloat16 or ScalarType.Float16 ? ScalarType.Float32 : dtype;

    private static Tensor ShadowOf(Tensor p)
    {
        using var scope = torch.NewScope();
        var s = p.dtype == ShadowDtype(p.dtype) ? p.clone() : p.to(ShadowDtype(p.dtype));
        return scope.Keep(s).DetachFromScope();
    }

    /// <summary>The decay the next <see cref="update(Module)"/> uses.</summary>
    public double current_decay() =>
        use_warmup ? Math.Min(decay, (1.0 + num_updates) / (10.0 + num_updates)) : decay;

    /// <summary>One EMA step with <see cref="current_decay"/>.</summary>
    public void update(Module model) => update(model, current_decay());

    /// <summary>One EMA step with an explicit decay: ema = decay * ema + (1 - decay) * param; buffers copied.</summary>
    public void update(Module model, double decay)
    {
        if (!(decay >= 0 && decay <= 1)) throw new ArgumentException($"EMA.update: decay must be in [0, 1], got {decay}");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters()) Lerp(Shadow(shadowParams, name, p, "parameter"), p, 1 - decay);
        foreach (var (name, b) in model.named_buffers()) Shadow(shadowBuffers, name, b, "buffer").copy_(b);
        num_updates++;
    }

    /// <summary>One EMA step from named tensors (the same names the EMA was built from) with <see cref="current_decay"/>.</summary>
    public void update(IEnumerable<(string name, Tensor tensor)> parameters) => update(parameters, current_decay());

    /// <summary>One EMA step from named tensors with an explicit decay.</summary>
    public void update(IEnumerable<(string name, Tensor tensor)> parameters, double decay)
    {
        if (!(decay >= 0 && decay <= 1)) throw new ArgumentException($"EMA.update: decay must be in [0, 1], got {decay}");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        int n = 0;
        foreach (var (name, p) in parameters)
        {
            Lerp(Shadow(shadowParams, name, p, "parameter"), p, 1 - decay);
            n++;
        }
        if (n != shadowParams.Count) throw new InvalidOperationException($"EMA.update: {n} tensors given, the EMA holds {shadowParams.Count}");
        num_updates++;
    }

    // shadow += weight (p - shadow), in the shadow's dtype
    private static void Lerp(Tensor shadow, Tensor p, double weight) =>
        shadow.lerp_(p.dtype == shadow.dtype ? p : p.to(shadow.dtype), weight);

    /// <summary>The shadows of the named tensors the EMA was built from (its own tensors, not copies).</summary>
    public IEnumerable<(string name, Tensor shadow)> named_shadows() => shadowParams.Select(kv => (kv.Key, kv.Value));

    /// <summary>Copies the averaged weights (and buffers, when built from a module) into <paramref name="model"/>,
    /// converting to its dtypes.</summary>
    public void copy_to(Module model)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters()) p.copy_(Shadow(shadowParams, name, p, "parameter"));
        if (tracksBuffers)
            foreach (var (name, b) in model.named_buffers()) b.copy_(Shadow(shadowBuffers, name, b, "buffer"));
    }

    private static Tensor Shadow(Dictionary<string, Tensor> shadows, string name, Tensor like, string kind)
    {
        if (!shadows.TryGetValue(name, out var s))
            throw new InvalidOperationException($"EMA: the model has a {kind} '{name}' that the EMA does not track (built from another model?)");
        if (!s.shape.SequenceEqual(like.shape))
            throw new InvalidOperationException($"EMA: {kind} '{name}' has shape [{string.Join(", ", like.shape)}], the EMA holds [{string.Join(", ", s.shape)}]");
        return s;
    }

    /// <summary>The averaged parameters and buffers under the model's names: new handles (owned by the caller's
    /// scope) sharing storage with the EMA's shadows.</summary>
    public Dictionary<string, Tensor> state_dict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, t) in shadowParams) d[k] = t.alias();
        foreach (var (k, t) in shadowBuffers) d[k] = t.alias();
        return d;
    }

    /// <summary>Restores the shadows from a state dict (keys and shapes must match exactly; nothing changes on error).</summary>
    public void load_state_dict(IReadOnlyDictionary<string, Tensor> state, long? num_updates = null, string? source = null)
    {
        string where = source is null ? "EMA.load_state_dict" : $"EMA.load_state_dict ({source})";
        var all = shadowParams.Concat(shadowBuffers).ToList();
        var missing = all.Where(kv => !state.ContainsKey(kv.Key)).Select(kv => kv.Key).ToList();
        var unexpected = state.Keys.Where(k => !shadowParams.ContainsKey(k) && !shadowBuffers.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"{where}: missing keys [{string.Join(", ", missing)}], unexpected keys [{string.Join(", ", unexpected)}]");
        foreach (var (k, t) in all)
            if (!state[k].shape.SequenceEqual(t.shape))
                throw new InvalidDataException($"{where}: '{k}' has shape [{string.Join(", ", state[k].shape)}], the EMA holds [{string.Join(", ", t.shape)}]");
        using var _ = torch.no_grad();
        foreach (var (k, t) in all) t.copy_(state[k]);
        if (num_updates is not null) this.num_updates = num_updates.Value;
    }

    public void Dispose()
    {
        foreach (var t in shadowParams.Values.Concat(shadowBuffers.Values)) t.Dispose();
        shadowParams.Clear();
        shadowBuffers.Clear();
    }
}
