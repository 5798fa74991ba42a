using System.Text;

namespace AptLab.Torch.nn;

/// <summary>
/// Base of every network part, as torch.nn.Module: named parameters, buffers and submodules registered
/// explicitly under their state-dict names (<c>blocks.0.self_attn.q.weight</c>), train/eval mode, moving
/// between devices and dtypes, freezing, and strict state-dict loading.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<(string name, Parameter? value)> ownParameters = new();
    private readonly List<(string name, Tensor? value, bool persistent)> buffers = new();
    private readonly List<(string name, Module value)> modules = new();

    public bool training { get; private set; } = true;

    // ---- registration ----
    protected Parameter RegisterParameter(string name, Tensor data, bool requires_grad = true)
    {
        CheckName(name);
        var p = data as Parameter ?? new Parameter(data, requires_grad);
        ownParameters.Add((name, p));
        return p;
    }

    /// <summary>Registers an absent optional parameter (e.g. a bias switched off): it has no state-dict key.</summary>
    protected void RegisterNullParameter(string name)
    {
        CheckName(name);
        ownParameters.Add((name, null));
    }

    /// <summary>A tensor that belongs to the module's state but is not trained (running stats, fixed tables).
    /// Non-persistent buffers move with the module but are not in the state dict.</summary>
    protected Tensor RegisterBuffer(string name, Tensor value, bool persistent = true)
    {
        CheckName(name);
        value.DetachFromScope();
        buffers.Add((name, value, persistent));
        return value;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        modules.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"invalid member name '{name}'");
        if (ownParameters.Any(p => p.name == name) || buffers.Any(b => b.name == name) || modules.Any(m => m.name == name))
            throw new ArgumentException($"'{name}' is already registered in {GetType().Name}");
    }

    /// <summary>Replaces a registered parameter (keeps its position), disposing the old one.</summary>
    protected Parameter ReplaceParameter(string name, Tensor data, bool requires_grad = true)
    {
        int i = ownParameters.FindIndex(p => p.name == name);
        if (i < 0) throw new ArgumentException($"no parameter '{name}' in {GetType().Name}");
        ownParameters[i].value?.Dispose();
        var p = data as Parameter ?? new Parameter(data, requires_grad);
        ownParameters[i] = (name, p);
        return p;
    }

    /// <summary>Registers a submodule from outside (PyTorch's <c>add_module</c>), e.g. adapter weights on a layer.</summary>
    public T add_module<T>(string name, T module) where T : Module => RegisterModule(name, module);

    /// <summary>Unregisters a submodule and returns it (not disposed), or null when there is none.</summary>
    public Module? remove_module(string name)
    {
        int i = modules.FindIndex(m => m.name == name);
        if (i < 0) return null;
        var m = modules[i].value;
        modules.RemoveAt(i);
        return m;
    }

    /// <summary>Replaces a registered submodule (keeps its position): LoRA injection, head swaps.</summary>
    public void ReplaceModule(string name, Module module)
    {
        int i = modules.FindIndex(m => m.name == name);
        if (i < 0) throw new ArgumentException($"no submodule '{name}' in {GetType().Name}");
        modules[i] = (name, module);
    }

    // ---- traversal ----
    public IEnumerable<(string name, Module module)> named_children() => modules;

    public IEnumerable<(string name, Module module)> named_modules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (n, m) in modules)
            foreach (var sub in m.named_modules(prefix.Length == 0 ? n : prefix + "." + n)) yield return sub;
    }

    public IEnumerable<(string name, Parameter parameter)> named_parameters(string prefix = "")
    {
        foreach (var (n, p) in ownParameters) if (p is not null) yield return (Join(prefix, n), p);
        foreach (var (n, m) in modules)
            foreach (var sub in m.named_parameters(Join(prefix, n))) yield return sub;
    }

    /// <summary>All parameters (PyTorch's parameters()).</summary>
    public IEnumerable<Parameter> parameters(bool onlyTrainable = false) =>
        named_parameters().Select(p => p.parameter).Where(p => !onlyTrainable || p.requires_grad);

    public IEnumerable<(string name, Tensor buffer)> named_buffers(string prefix = "", bool persistentOnly = false)
    {
        foreach (var (n, b, persistent) in buffers)
            if (b is not null && (persistent || !persistentOnly)) yield return (Join(prefix, n), b);
        foreach (var (n, m) in modules)
            foreach (var sub in m.named_buffers(Join(prefix, n), persistentOnly)) yield return sub;
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>Number of parameter elements.</summary>
    public long num_parameters(bool onlyTrainable = false) => parameters(onlyTrainable).Sum(p => p.numel());

    // ---- modes ----
    public Module train(bool on = true)
    {
        foreach (var (_, m) in named_modules()) m.training = on;
        return this;
    }
    public Module eval() => train(false);

    /// <summary>Sets requires_grad on every parameter (false freezes the module).</summary>
    public Module requires_grad_(bool on = true)
    {
        foreach (var p in parameters()) p.requires_grad = on;
        return this;
    }

    public void zero_grad()
    {
        foreach (var p in parameters()) p.grad = null;
    }

    // ---- devices and dtypes ----
    /// <summary>Moves parameters and buffers in place (parameters keep their identity, as in PyTorch).
    /// Only floating-point tensors change dtype.</summary>
    public Module to(Device? device = null, ScalarType? dtype = null)
    {
        using var _ = torch.no_grad();
        foreach (var p in parameters())
        {
            using var moved = Convert(p, device, dtype);
            if (moved is not null) p.set_data(moved);
        }
        foreach (var (_, m) in named_modules())
            for (int i = 0; i < m.buffers.Count; i++)
            {
                var (n, b, persistent) = m.buffers[i];
                if (b is null) continue;
                var moved = Convert(b, device, dtype);
                if (moved is null) continue;
                b.Dispose();
                m.buffers[i] = (n, moved.DetachFromScope(), persistent);
            }
        return this;
    }
    public Module to(ScalarType dtype) => to(null, dtype);

    private static Tensor? Convert(Tensor t, Device? device, ScalarType? dtype)
    {
        var dev = device ?? t.device;
        var dt = dtype is not null && t.dtype.IsFloatingPoint() ? dtype.Value : t.dtype;
        return dev == t.device && dt == t.dtype ? null : t.to(dev, dt);
    }

    /// <summary>A registered buffer by its local name (after <see cref="to(Device?, ScalarType?)"/> it is a new tensor).</summary>
    protected Tensor Buffer(string name) => buffers.First(b => b.name == name).value!;

    // ---- state dicts ----
    /// <summary>Parameters and persistent buffers under their full names, in registration order. The tensors
    /// are the module's own (not copies).</summary>
    public Dictionary<string, Tensor> state_dict()
    {
        var d = new Dictionary<string, Tensor>();
        AddState(d, "");
        return d;
    }

    // PyTorch's order: a module's own parameters, then its own persistent buffers, then each child's state.
    private void AddState(Dictionary<string, Tensor> d, string prefix)
    {
        foreach (var (n, p) in ownParameters) if (p is not null) d[Join(prefix, n)] = p;
        foreach (var (n, b, persistent) in buffers) if (b is not null && persistent) d[Join(prefix, n)] = b;
        foreach (var (n, m) in modules) m.AddState(d, Join(prefix, n));
    }

    /// <summary>
    /// Copies <paramref name="state"/> into the module's parameters and persistent buffers (converting to their
    /// dtype and device). With <paramref name="strict"/>, missing keys, unexpected keys and shape mismatches are
    /// all reported together, with shapes, and nothing is copied. Returns the missing and unexpected keys.
    /// </summary>
    public (List<string> missing, List<string> unexpected) load_state_dict(IReadOnlyDictionary<string, Tensor> state,
        bool strict = true, string? source = null)
    {
        var own = state_dict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var mismatched = own.Where(kv => state.ContainsKey(kv.Key) && !kv.Value.shape.SequenceEqual(state[kv.Key].shape))
            .Select(kv => (kv.Key, expected: kv.Value.shape, got: state[kv.Key].shape)).ToList();
        if (mismatched.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            var sb = new StringBuilder($"Error(s) in loading state_dict for {GetType().Name}");
            if (source is not null) sb.Append(" from ").Append(source);
            sb.Append(':');
            if (missing.Count > 0)
                sb.Append($"\n  missing keys ({missing.Count}): ").Append(string.Join(", ", missing.Select(k => $"{k} {Fmt(own[k].shape)}")));
            if (strict && unexpected.Count > 0)
                sb.Append($"\n  unexpected keys ({unexpected.Count}): ").Append(string.Join(", ", unexpected.Select(k => $"{k} {Fmt(state[k].shape)}")));
            foreach (var (k, e, g) in mismatched)
                sb.Append($"\n  size mismatch for {k}: checkpoint has {Fmt(g)}, model expects {Fmt(e)}");
            throw new InvalidDataException(sb.ToString());
        }
        using (torch.no_grad())
            foreach (var (k, t) in own)
                if (state.TryGetValue(k, out var src)) t.copy_(src);
        return (missing, unexpected);
    }

    private static string Fmt(long[] s) => "[" + string.Join(", ", s) + "]";

    /// <summary>A readable tree of the module with parameter shapes.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Describe(sb, "", 0);
        return sb.ToString();
    }

    private void Describe(StringBuilder sb, string name, int depth)
    {
        sb.Append(new string(' ', 2 * depth)).Append(name.Length > 0 ? name + ": " : "").Append(GetType().Name);
        var own = ownParameters.Where(p => p.value is not null).Select(p => $"{p.name}{Fmt(p.value!.shape)}").ToList();
        if (own.Count > 0) sb.Append(" (").Append(string.Join(", ", own)).Append(')');
        sb.AppendLine();
        foreach (var (n, m) in modules) m.Describe(sb, n, depth + 1);
    }

    /// <summary>Frees every parameter and buffer of this module and its submodules.</summary>
    public virtual void Dispose()
    {
        foreach (var (_, p) in ownParameters) p?.Dispose();
        foreach (var (_, b, _) in buffers) b?.Dispose();
        foreach (var (_, m) in modules) m.Dispose();
        GC.SuppressFinalize(this);
    }
}
