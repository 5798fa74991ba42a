using AptLab.Torch.nn;
using AptLab.Torch.optim;

namespace AptLab.Training;

/// <summary>
/// A module's parameters under a <see cref="Precision"/> policy, whole (not sharded): the module's own parameters
/// become the compute copies (cast in place, so every reference to them stays valid), and each trainable one gets a
/// master in the master dtype when the two dtypes differ (bf16-mixed). The optimizer and the EMA work on
/// <see cref="Masters"/>; per micro-batch <see cref="AccumulateGradients"/> adds the compute copies' gradients into
/// the masters' in float32; <see cref="Step"/> updates the masters and refreshes the copies.
/// <code>
/// var mp = new MixedPrecisionParameters(model, Precision.Bf16Mixed);
/// var opt = new AdamW(mp.Masters, lr);
/// for each micro-batch: loss.backward(); mp.AccumulateGradients();
/// mp.Step(opt); mp.zero_grad();
/// </code>
/// Under fp32 (and for a model already in the master dtype) the masters ARE the module's parameters: nothing is
/// copied and training is exactly what it was without the policy. Frozen parameters are only cast to the compute
/// dtype. docs/precision-and-parallelism.md.
/// </summary>
public sealed class MixedPrecisionParameters : IDisposable
{
    public Module Module { get; }
    public Precision Precision { get; }
    public ScalarType ComputeDtype { get; }
    public ScalarType MasterDtype { get; }
    /// <summary>The trainable parameters by state-dict name: the compute copies.</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Trainable { get; }
    /// <summary>One master per trainable parameter, in the same order (the parameter itself when
    /// <see cref="SeparateMasters"/> is false).</summary>
    public IReadOnlyList<Tensor> Masters { get; }
    /// <summary>True when masters and compute copies are different tensors (bf16-mixed).</summary>
    public bool SeparateMasters { get; }

    /// <param name="trainable">the parameters that train (default: those with requires_grad, at construction)</param>
    public MixedPrecisionParameters(Module module, Precision precision, IEnumerable<(string name, Parameter parameter)>? trainable = null)
    {
        Module = module;
        Precision = precision;
        Trainable = (trainable ?? module.named_parameters().Where(p => p.parameter.requires_grad)).ToList();
        var modelDtype = Trainable.Count > 0 ? Trainable[0].parameter.dtype
            : module.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
        ComputeDtype = precision.ComputeDtype(modelDtype);
        MasterDtype = precision.MasterDtype(modelDtype);
        SeparateMasters = ComputeDtype != MasterDtype;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var masters = new List<Tensor>();
        foreach (var (name, p) in Trainable)
        {
            if (!p.dtype.IsFloatingPoint()) throw new ArgumentException($"MixedPrecisionParameters: '{name}' is {p.dtype.TorchName()}, not floating point");
            if (SeparateMasters)
                masters.Add(new Parameter(p.dtype == MasterDtype ? p.detach().clone() : p.to(MasterDtype)));
            else masters.Add(p);
        }
        Masters = masters;
        // the module's floating parameters (trainable and frozen) become compute copies, in place
        foreach (var p in module.parameters())
            if (p.dtype.IsFloatingPoint() && p.dtype != ComputeDtype) p.set_data(p.to(ComputeDtype));
    }

    /// <summary>The masters under the parameters' state-dict names (the EMA's and the checkpoint's source).</summary>
    public IEnumerable<(string name, Tensor master)> named_masters() => Trainable.Select((t, i) => (t.name, Masters[i]));

    /// <summary>Adds the compute copies' gradients (this micro-batch's) into the masters' gradients, in the master
    /// dtype, and clears them: accumulation over micro-batches happens in float32 under bf16-mixed. A no-op when the
    /// masters are the parameters (their gradients accumulate there already).</summary>
    public void AccumulateGradients()
    {
        if (!SeparateMasters) return;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        for (int i = 0; i < Trainable.Count; i++)
        {
            var p = Trainable[i].parameter;
            var g = p.grad;
            if (g is null) continue;
            var m = Masters[i];
            var mg = m.grad;
            if (mg is null) m.grad = g.to(MasterDtype);
            else mg.add_(g);
            p.grad = null;
        }
    }

    /// <summary>Copies the masters into the compute copies (after an optimizer step or a load).</summary>
    public void SyncComputeCopies()
    {
        if (!SeparateMasters) return;
        using var _ = torch.no_grad();
        for (int i = 0; i < Trainable.Count; i++) Trainable[i].parameter.copy_(Masters[i]);
    }

    /// <summary>The optimizer's step over the masters (it must have been built over <see cref="Masters"/>), then the
    /// compute copies follow.</summary>
    public void Step(Optimizer optimizer)
    {
        AccumulateGradients();
        optimizer.step();
        SyncComputeCopies();
    }

    /// <summary>Clears the gradients of the masters and of the compute copies.</summary>
    public void zero_grad()
    {
        foreach (var m in Masters) m.grad = null;
        foreach (var (_, p) in Trainable) p.grad = null;
    }

    /// <summary>The module's state dict with the trainable entries taken from the masters: the full-precision
    /// weights under the official names. With <paramref name="dtype"/> every floating tensor is converted (e.g.
    /// bfloat16 for a release); the tensors are otherwise the live ones (not copies).</summary>
    public Dictionary<string, Tensor> state_dict(ScalarType? dtype = null)
    {
        var d = Module.state_dict();
        foreach (var (name, m) in named_masters()) d[name] = m;
        if (dtype is { } t)
            foreach (var k in d.Keys.ToList())
                if (d[k].dtype.IsFloatingPoint() && d[k].dtype != t) d[k] = d[k].to(t);
        return d;
    }

    /// <summary>Loads weights under the official names (any floating dtype): the masters and frozen parameters
    /// take them, then the compute copies follow. Strict, as <see cref="Module.load_state_dict"/>.</summary>
    public void load_state_dict(IReadOnlyDictionary<string, Tensor> state, string? source = null)
    {
        Module.load_state_dict(state, source: source);             // checks keys and shapes; compute copies and frozen
        using var _ = torch.no_grad();
        if (SeparateMasters)
            foreach (var (name, m) in named_masters()) m.copy_(state[name]);
        SyncComputeCopies();
    }

    /// <summary>Ends training: every trainable parameter of the module takes its master's dtype and values (the module
    /// then holds what one process training in the master dtype would; frozen ones stay in the compute dtype). The
    /// masters are released; the object is not used for training afterwards.</summary>
    public void restore_masters()
    {
        if (!SeparateMasters) return;
        using var _ = torch.no_grad();
        for (int i = 0; i < Trainable.Count; i++)
        {
            var p = Trainable[i].parameter;
            p.grad = null;
            p.set_data(Masters[i].detach());
        }
    }

    public void Dispose()
    {
        if (SeparateMasters) foreach (var m in Masters) m.Dispose();
    }
}
