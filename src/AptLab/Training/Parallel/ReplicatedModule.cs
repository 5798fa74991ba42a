using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Torch.optim;

namespace AptLab.Training;

/// <summary>
/// A whole module on every rank (<c>parallel: ddp</c>, or one process): <see cref="MixedPrecisionParameters"/> for the
/// precision policy and, with a group, <see cref="DistributedDataParallel"/> over the masters (rank 0's weights
/// broadcast at construction, the float32 gradients averaged by <see cref="sync_gradients"/>). Under fp32 without a
/// group it is exactly plain training.
/// </summary>
public sealed class ReplicatedModule : IParallelModule
{
    public Module module { get; }
    public Precision precision => Weights.Precision;
    public ProcessGroup? group { get; }
    public MixedPrecisionParameters Weights { get; }
    private readonly DistributedDataParallel? ddp;

    public ReplicatedModule(Module module, Precision precision, ProcessGroup? group = null)
    {
        this.module = module;
        this.group = group;
        Weights = new MixedPrecisionParameters(module, precision);
        if (group is not null)
        {
            // rank 0's masters, frozen weights and buffers on every rank, then the compute copies from the masters
            var trainable = new HashSet<Tensor>(Weights.Trainable.Select(t => (Tensor)t.parameter), ReferenceEqualityComparer.Instance);
            var others = module.parameters().Where(p => !trainable.Contains(p)).Cast<Tensor>().Concat(module.named_buffers().Select(b => b.buffer));
            ddp = new DistributedDataParallel(Weights.Masters, group, others);
            Weights.SyncComputeCopies();
        }
    }

    public IReadOnlyList<Tensor> parameters() => Weights.Masters;
    public IEnumerable<(string name, Tensor tensor)> named_parameters() => Weights.named_masters();

    public T forward<T>(Func<T> body) => body();

    public void backward(Tensor loss)
    {
        loss.backward();
        post_backward();
    }

    public void post_backward() => Weights.AccumulateGradients();

    public void sync_gradients()
    {
        Weights.AccumulateGradients();
        ddp?.sync_gradients();
    }

    public IDisposable no_sync() => ddp?.no_sync() ?? new Nothing();

    private sealed class Nothing : IDisposable { public void Dispose() { } }

    public double grad_norm()
    {
        using var scope = torch.NewScope();
        double sq = 0;
        foreach (var m in Weights.Masters)
            if (m.grad is { } g) sq += g.to(ScalarType.Float64).square().sum().item<double>();
        return Math.Sqrt(sq);
    }

    public Dictionary<string, double> grad_norms(Func<string, string> groupOf)
    {
        using var scope = torch.NewScope();
        var sq = new Dictionary<string, double>();
        foreach (var (name, m) in Weights.named_masters())
        {
            var g = groupOf(name);
            sq[g] = sq.GetValueOrDefault(g) + (m.grad is { } grad ? grad.to(ScalarType.Float64).square().sum().item<double>() : 0);
        }
        return sq.ToDictionary(kv => kv.Key, kv => Math.Sqrt(kv.Value));
    }

    public double clip_grad_norm_(double max_norm)
    {
        using var scope = torch.NewScope();
        return ClipGrad.clip_grad_norm_(Weights.Masters, max_norm).item<double>();
    }

    public void step(Optimizer optimizer) => Weights.Step(optimizer);

    public void zero_grad() => Weights.zero_grad();

    public Dictionary<string, Tensor> state_dict(ScalarType? dtype = null) => Weights.state_dict(dtype);

    public void load_state_dict(IReadOnlyDictionary<string, Tensor> state, string? source = null) => Weights.load_state_dict(state, source);

    public void load_parameters(IReadOnlyDictionary<string, Tensor> full, string? source = null)
    {
        var local = from_full(full, source);                                       // checks names and shapes first
        using (torch.no_grad())
            foreach (var (name, m) in Weights.named_masters()) m.copy_(local[name]);
        Weights.SyncComputeCopies();
    }

    public Dictionary<string, Tensor> to_full(IEnumerable<(string name, Tensor tensor)> local) => local.ToDictionary(t => t.name, t => t.tensor);

    public Dictionary<string, Tensor> from_full(IReadOnlyDictionary<string, Tensor> full, string? source = null)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, m) in Weights.named_masters())
        {
            if (!full.TryGetValue(name, out var t))
                throw new InvalidDataException($"{source ?? "state"}: '{name}' is missing");
            if (!t.shape.SequenceEqual(m.shape))
                throw new InvalidDataException($"{source ?? "state"}: '{name}' has shape [{string.Join(", ", t.shape)}], the model has [{string.Join(", ", m.shape)}]");
            d[name] = t;
        }
        return d;
    }

    public Dictionary<string, Tensor> optimizer_state_dict(Optimizer optimizer) => optimizer.state_dict();

    public void load_optimizer_state_dict(Optimizer optimizer, IReadOnlyDictionary<string, Tensor> state, string? source = null) =>
        optimizer.load_state_dict(state, source);

    public void Dispose()
    {
        ddp?.Dispose();
        Weights.Dispose();
    }
}
