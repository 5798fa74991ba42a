namespace AptLab.Torch.optim;

/// <summary>The per-parameter state of an optimizer: tensors under PyTorch's names (exp_avg, momentum_buffer, ...)
/// and the number of steps taken. The tensors belong to the optimizer (never to a dispose scope).</summary>
public sealed class ParamState
{
    internal readonly Dictionary<string, Tensor> tensors = new();

    /// <summary>Steps taken for this parameter (PyTorch's state["step"]).</summary>
    public long step;

    public IReadOnlyDictionary<string, Tensor> Tensors => tensors;

    public bool Has(string name) => tensors.ContainsKey(name);

    public Tensor this[string name] => tensors.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"optimizer state has no '{name}'");

    /// <summary>Stores <paramref name="t"/> as state <paramref name="name"/>, taking it out of any scope.</summary>
    internal Tensor Set(string name, Tensor t)
    {
        if (tensors.TryGetValue(name, out var old) && !ReferenceEquals(old, t)) old.Dispose();
        tensors[name] = t.DetachFromScope();
        return t;
    }

    /// <summary>The state tensor <paramref name="name"/>, created as zeros like <paramref name="like"/> if absent.</summary>
    internal Tensor GetOrZeros(string name, Tensor like) =>
        tensors.TryGetValue(name, out var t) ? t : Set(name, torch.zeros_like(like));

    internal void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
    }
}

/// <summary>
/// Base of the optimizers, as torch.optim.Optimizer: parameter groups with their hyper-parameters, per-parameter
/// state, <see cref="step"/>, <see cref="zero_grad"/> and state dicts that a checkpoint can hold. Updates run
/// under no_grad with in-place ops; their temporaries are freed before step() returns, so step() may be called
/// inside a training step's dispose scope. Parameters without a gradient are skipped (no state is created).
/// </summary>
public abstract partial class Optimizer : IDisposable
{
    private readonly List<ParamGroup> groups = new();
    private readonly Dictionary<string, double> defaults;
    // State per parameter, by reference (a parameter may sit in only one group).
    private readonly Dictionary<Tensor, ParamState> state = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup> param_groups, IReadOnlyDictionary<string, double> defaults)
    {
        this.defaults = new Dictionary<string, double>(defaults);
        foreach (var g in param_groups) add_param_group(g);
        if (groups.Count == 0) throw new ArgumentException($"{Name}: optimizer got an empty parameter list");
    }

    /// <summary>The optimizer's name in messages.</summary>
    protected string Name => GetType().Name;

    public IReadOnlyList<ParamGroup> param_groups => groups;
    public IReadOnlyDictionary<string, double> Defaults => defaults;

    /// <summary>The state of <paramref name="parameter"/>, or null before its first update.</summary>
    public ParamState? StateOf(Tensor parameter) => state.GetValueOrDefault(parameter);

    /// <summary>Adds a group: fills unset options with the defaults, rejects unknown options and parameters that
    /// are already optimized.</summary>
    public void add_param_group(ParamGroup group)
    {
        foreach (var k in group.options.Keys)
            if (!defaults.ContainsKey(k))
                throw new ArgumentException($"{Name}: unknown option '{k}' in parameter group {groups.Count} (known: {string.Join(", ", defaults.Keys)})");
        foreach (var (k, v) in defaults) group.options.TryAdd(k, v);
        Validate(group, $"{Name} parameter group {groups.Count}");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var p in group.@params)
        {
            if (!seen.Add(p) || groups.Any(g => g.@params.Any(q => ReferenceEquals(q, p))))
                throw new ArgumentException($"{Name}: a parameter appears in more than one parameter group (or twice in group {groups.Count})");
            if (!p.dtype.IsFloatingPoint())
                throw new ArgumentException($"{Name}: can only optimize floating-point tensors, got {p.dtype.TorchName()}");
        }
        groups.Add(group);
    }

    /// <summary>Checks a group's hyper-parameters; <paramref name="where"/> names the group in errors.</summary>
    protected virtual void Validate(ParamGroup group, string where)
    {
        if (!(group.lr >= 0)) throw new ArgumentException($"{where}: invalid learning rate lr={group.lr}");
        if (group.options.TryGetValue("weight_decay", out var wd) && !(wd >= 0))
            throw new ArgumentException($"{where}: invalid weight_decay={wd}");
    }

    /// <summary>Names of the per-parameter state tensors this optimizer may keep (PyTorch's names).</summary>
    protected abstract IReadOnlyCollection<string> StateNames { get; }

    /// <summary>Whether the optimizer counts steps per parameter (SGD does not).</summary>
    protected virtual bool CountsSteps => true;

    /// <summary>Updates one parameter in place. Runs under no_grad inside a scope that frees temporaries;
    /// tensors kept across steps must go through <see cref="ParamState"/>.</summary>
    protected abstract void Update(ParamGroup group, Tensor param, Tensor grad, ParamState state);

    /// <summary>One optimization step over every parameter that has a gradient.</summary>
    public void step()
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        foreach (var group in groups)
            foreach (var p in group.@params)
            {
                var grad = p.grad;
                if (grad is null) continue;
                if (!state.TryGetValue(p, out var st)) state[p] = st = new ParamState();
                Update(group, p, grad, st);
                grad.Dispose();
            }
    }

    /// <summary>Clears the gradients: to none (default, as PyTorch 2) or to zeros in place.</summary>
    public void zero_grad(bool set_to_none = true)
    {
        foreach (var group in groups)
            foreach (var p in group.@params)
            {
                if (set_to_none) { p.grad = null; continue; }
                using var g = p.grad;
                if (g is null) continue;
                using (torch.no_grad()) g.detach_().zero_();
            }
    }

    /// <summary>Frees every state tensor (the parameters belong to their module).</summary>
    public void Dispose()
    {
        foreach (var st in state.Values) st.Dispose();
        state.Clear();
        GC.SuppressFinalize(this);
    }
}
