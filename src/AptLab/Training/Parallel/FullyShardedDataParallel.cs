using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Torch.optim;

namespace AptLab.Training;

/// <summary>
/// Fully sharded data parallel (ZeRO-3, torch.distributed.fsdp's FullyShardedDataParallel) over a c10d group: every
/// rank holds 1/N of each parameter (float32 master shards under bf16-mixed), of its gradient, of the optimizer
/// state and of the EMA built from <see cref="named_parameters"/>. The model is cut into units: each DiT block is
/// one (<see cref="BlocksOf"/>), everything else (embeddings, head, discriminator read-out) is the root unit.
/// <code>
/// forward:   gather root (kept until backward) | block i fetched -> checkpointed forward: gather i, run, free i
/// backward:  recompute block i: gather i, run with grad, backward -> reduce-scatter i's gradients, free i
///            post_backward: reduce-scatter the root's gradients, free the root
/// </code>
/// The blocks must run under activation checkpointing (Wan and OmniAvatar: GradientCheckpointing = true) when
/// gradients are on; under no_grad each block is gathered when the model fetches it (<c>blocks[i]</c>) and freed when
/// the next one is fetched. Gathers are in the compute dtype (bf16 under bf16-mixed); gradients are reduce-scattered
/// in the master dtype, so micro-batch accumulation happens in float32. Collectives are synchronous: on Gloo/CPU a
/// prefetch of the next block's gather would compete with the compute for the same cores, so there is none.
/// <para>Between uses the module's parameters are empty tensors (shape [0], the compute dtype): read weights through
/// <see cref="state_dict"/>, not the module. docs/precision-and-parallelism.md.</para>
/// </summary>
public sealed partial class FullyShardedDataParallel : IParallelModule, ICheckpointObserver
{
    public Module module { get; }
    public ProcessGroup group { get; }
    ProcessGroup? IParallelModule.group => group;
    public Precision precision { get; }

    // One unit: its module-relative path (root: ""), and its trainable and frozen flat parameters.
    private sealed class Unit(string path, FlatParameter[] flats)
    {
        public readonly string Path = path;
        public readonly FlatParameter[] Flats = flats;
        public void Gather() { foreach (var f in Flats) f.Gather(); }
        public void Free() { foreach (var f in Flats) f.Free(); }
        public void Reduce(bool syncing) { foreach (var f in Flats) f.ReduceGradients(syncing); }
        public string Describe => Path.Length == 0 ? "the root unit" : $"block '{Path}'";
    }

    private readonly Unit root;
    private readonly Unit[] blocks;
    private readonly FlatParameter[] trainable;                         // the optimizer's, in unit order (root first)
    private readonly (FlatParameter flat, FlatParameter.Member member)[] trainableOrder;   // module order
    private readonly List<IDisposable> hooks = new();
    private readonly Dictionary<Tensor, FlatParameter> flatOfShard = new(ReferenceEqualityComparer.Instance);

    private int forwardDepth, noSyncDepth;
    private bool rootHeldForBackward;
    private Unit? pending;              // fetched with gradients on, its checkpointed region not created yet
    private Unit? current;              // gathered for a no-grad forward
    private Thread? forwardThread;

    /// <param name="units">the blocks, each a module inside <paramref name="module"/> fetched by index from a
    /// <see cref="ModuleList{T}"/> right before it runs (default <see cref="BlocksOf"/>)</param>
    /// <param name="device">where the shards live (default: the parameters' device; CPU for a model on meta, whose
    /// shards start at zero and take their values from <see cref="load_state_dict"/>)</param>
    public FullyShardedDataParallel(Module module, ProcessGroup group, IReadOnlyList<Module>? units = null,
        Precision precision = Precision.Fp32, Device? device = null)
    {
        this.module = module;
        this.group = group;
        this.precision = precision;
        units ??= BlocksOf(module);
        var named = module.named_parameters().ToList();
        if (named.Count == 0) throw new ArgumentException("FullyShardedDataParallel: the module has no parameters");
        var dev = device ?? (named[0].parameter.device.Type == DeviceType.Meta ? Device.CPU : named[0].parameter.device);

        // which unit each parameter belongs to (by its module path)
        var unitPaths = new List<string>();
        var modulePath = new Dictionary<Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, m) in module.named_modules()) modulePath.TryAdd(m, name);
        foreach (var u in units)
        {
            if (!modulePath.TryGetValue(u, out var path) || path.Length == 0)
                throw new ArgumentException($"FullyShardedDataParallel: a unit ({u.GetType().Name}) is not a submodule of the wrapped {module.GetType().Name}");
            unitPaths.Add(path);
        }
        string UnitOf(string param) => unitPaths.Where(p => param.StartsWith(p + ".", StringComparison.Ordinal)).MaxBy(p => p.Length) ?? "";
        var byUnit = named.GroupBy(p => UnitOf(p.name)).ToDictionary(g => g.Key, g => g.ToList());

        Unit Build(string path)
        {
            var members = byUnit.GetValueOrDefault(path) ?? [];
            var prefix = path.Length == 0 ? "" : path + ".";
            var flats = new List<FlatParameter>();
            var train = members.Where(m => m.parameter.requires_grad).ToList();
            var frozen = members.Where(m => !m.parameter.requires_grad).ToList();
            if (train.Count > 0) flats.Add(new FlatParameter(prefix + "_flat_param", train, true, precision, group, dev));
            if (frozen.Count > 0) flats.Add(new FlatParameter(prefix + "_flat_param_frozen", frozen, false, precision, group, dev));
            return new Unit(path, flats.ToArray());
        }
        root = Build("");
        blocks = unitPaths.Select(Build).ToArray();
        trainable = new[] { root }.Concat(blocks).SelectMany(u => u.Flats).Where(f => f.Trainable).ToArray();
        foreach (var f in trainable) flatOfShard[f.Shard] = f;
        var memberOf = trainable.SelectMany(f => f.Members.Select(m => (f, m))).ToDictionary(x => x.m.Name, x => x);
        trainableOrder = named.Where(p => memberOf.ContainsKey(p.name)).Select(p => memberOf[p.name]).ToArray();

        // per-block forward pre-hooks: the ModuleLists that hold the units
        var unitOf = new Dictionary<Module, Unit>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < units.Count; i++) unitOf[units[i]] = blocks[i];
        int hooked = 0;
        foreach (var (_, m) in module.named_modules())
        {
            var list = m as IModuleList;
            if (list is null) continue;
            var map = new Dictionary<int, Unit>();
            for (int i = 0; i < list.Count; i++)
                if (unitOf.TryGetValue(list.item(i), out var u)) map[i] = u;
            if (map.Count == 0) continue;
            hooks.Add(list.register_get_hook(i => { if (map.TryGetValue(i, out var u)) OnFetch(u); }));
            hooked += map.Count;
        }
        if (hooked != units.Count)
            throw new ArgumentException($"FullyShardedDataParallel: {units.Count - hooked} of the {units.Count} units are not items of a ModuleList " +
                                        "(a unit must be fetched by index right before it runs)");
    }

    /// <summary>The default units: every item of the module's ModuleLists named "blocks" (the DiT blocks of Wan and
    /// OmniAvatar, and of a discriminator's backbone).</summary>
    public static IReadOnlyList<Module> BlocksOf(Module module) =>
        module.named_modules().Where(m => m.module is IModuleList && (m.name == "blocks" || m.name.EndsWith(".blocks", StringComparison.Ordinal)))
            .SelectMany(m => { var l = (IModuleList)m.module; return Enumerable.Range(0, l.Count).Select(l.item); }).ToList();

    /// <summary>Number of units (blocks + the root).</summary>
    public int UnitCount => blocks.Length + 1;

    /// <summary>Bytes of the largest block's gathered compute copy (what a rank holds on top of its shards and the
    /// root while a block runs).</summary>
    public long LargestBlockBytes => blocks.Length == 0 ? 0 : blocks.Max(GatheredBytes);

    /// <summary>Bytes of the root unit's gathered compute copy (held from a forward to its backward).</summary>
    public long RootBytes => GatheredBytes(root);

    private static long GatheredBytes(Unit u) => u.Flats.Sum(f => f.Padded * f.ComputeDtype.ElementSize());

    /// <summary>Bytes of this rank's shards (masters and frozen weights), computed from the layout (for reports; the
    /// tests measure).</summary>
    public long ShardBytes => AllFlats.Sum(f => f.ShardNumel * f.StoreDtype.ElementSize());

    public IReadOnlyList<Tensor> parameters() => trainable.Select(f => f.Shard).ToList();

    public IEnumerable<(string name, Tensor tensor)> named_parameters() => trainable.Select(f => (f.Name, f.Shard));

    // ---- forward ----

    public T forward<T>(Func<T> body)
    {
        if (forwardDepth > 0) return body();                                  // nested in a forward of this module
        root.Gather();
        if (torch.is_grad_enabled()) rootHeldForBackward = true;              // its weights are in the autograd graph
        forwardDepth++;
        forwardThread = Thread.CurrentThread;
        using var observing = Autograd.observe_checkpoints(this);
        try
        {
            var result = body();
            CheckPending();
            return result;
        }
        catch (TorchException e) when (pending is not null)
        {
            var u = pending;
            pending = null;
            throw new InvalidOperationException(NotCheckpointed(u), e);
        }
        catch (TorchException e)
        {
            throw new TorchException(e.Message + " (under FullyShardedDataParallel a block runs with its weights only while it is " +
                                     "fetched by index and, with gradients on, under activation checkpointing)");
        }
        finally
        {
            pending = null;
            forwardDepth--;
            current?.Free();
            current = null;
            if (!rootHeldForBackward) root.Free();
        }
    }

    private void OnFetch(Unit u)
    {
        if (forwardDepth == 0 || forwardThread != Thread.CurrentThread) return;   // fetched outside a forward
        CheckPending();
        if (torch.is_grad_enabled())
        {
            pending = u;                                                        // its checkpointed region gathers it
            return;
        }
        if (current is not null && current != u) current.Free();
        u.Gather();
        current = u;
    }

    private void CheckPending()
    {
        if (pending is null) return;
        var u = pending;
        pending = null;
        throw new InvalidOperationException(NotCheckpointed(u));
    }

    private static string NotCheckpointed(Unit u) =>
        $"FullyShardedDataParallel: {u.Describe} ran with gradients on but not under activation checkpointing, so its gathered " +
        "weights would have to stay for backward; turn the model's GradientCheckpointing on";

    object? ICheckpointObserver.Created()
    {
        var u = pending;
        pending = null;
        return u;
    }

    void ICheckpointObserver.BeforeRun(object state, bool recompute) => ((Unit)state).Gather();

    void ICheckpointObserver.AfterRun(object state, bool recompute)
    {
        if (!recompute) ((Unit)state).Free();                                  // the recomputation's graph still needs it
    }

    void ICheckpointObserver.AfterBackward(object state)
    {
        var u = (Unit)state;
        u.Reduce(noSyncDepth == 0);
        u.Free();
    }

    // ---- backward and gradients ----

    public void backward(Tensor loss)
    {
        loss.backward();
        post_backward();
    }

    public void post_backward()
    {
        foreach (var u in blocks)
            if (u.Flats.Any(f => f.IsGathered)) { u.Reduce(noSyncDepth == 0); u.Free(); }
        root.Reduce(noSyncDepth == 0);
        root.Free();
        rootHeldForBackward = false;
    }

    public void sync_gradients()
    {
        if (noSyncDepth > 0) return;
        foreach (var f in trainable) f.SyncLocalGradients();
    }

    public IDisposable no_sync()
    {
        noSyncDepth++;
        return new NoSyncScope(this);
    }

    private sealed class NoSyncScope(FullyShardedDataParallel owner) : IDisposable
    {
        private bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            owner.noSyncDepth--;
        }
    }

    public double grad_norm()
    {
        using var scope = torch.NewScope();
        double sq = 0;
        foreach (var f in trainable)
            if (f.Shard.grad is { } g) sq += g.to(ScalarType.Float64).square().sum().item<double>();
        var t = torch.tensor(new[] { sq }, 1);
        if (group.world_size > 1) group.all_reduce(t, ReduceOp.Sum);
        return Math.Sqrt(t.item<double>());
    }

    public Dictionary<string, double> grad_norms(Func<string, string> groupOf)
    {
        using var scope = torch.NewScope();
        // every rank lists the same groups in the same order (from the layout), whatever its shard holds
        var names = trainable.SelectMany(f => f.Members.Select(m => groupOf(m.Name))).Distinct().ToList();
        var index = names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i);
        var sq = new double[names.Count];
        foreach (var f in trainable)
        {
            var g = f.Shard.grad;                 // (not a pattern variable: Stryker's mutants of it do not compile)
            if (g is null) continue;
            long lo = group.rank * f.ShardNumel, hi = lo + f.ShardNumel;
            foreach (var m in f.Members)
            {
                long a = Math.Max(lo, m.Offset), b = Math.Min(hi, m.Offset + m.Numel);
                if (a < b) sq[index[groupOf(m.Name)]] += g.narrow(0, a - lo, b - a).to(ScalarType.Float64).square().sum().item<double>();
            }
        }
        if (names.Count == 0) return new Dictionary<string, double>();
        var t = torch.tensor(sq, sq.Length);
        if (group.world_size > 1) group.all_reduce(t, ReduceOp.Sum);
        var v = t.data<double>();
        return names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => Math.Sqrt(v[x.i]));
    }

    public double clip_grad_norm_(double max_norm)
    {
        double norm = grad_norm();
        double coef = Math.Min(1.0, max_norm / (norm + 1e-6));
        if (coef < 1)
            using (torch.no_grad())
                foreach (var f in trainable) f.Shard.grad?.mul_(coef);
        return norm;
    }

    public void step(Optimizer optimizer)
    {
        foreach (var u in blocks) u.Free();                                   // gathered copies would be stale after
        root.Free();
        rootHeldForBackward = false;
        optimizer.step();
    }

    public void zero_grad()
    {
        foreach (var u in blocks.Append(root))
            foreach (var f in u.Flats) f.ZeroGrad();
    }

    public void Dispose()
    {
        foreach (var h in hooks) h.Dispose();
        hooks.Clear();
        foreach (var u in blocks.Append(root))
            foreach (var f in u.Flats) f.Dispose();
    }
}
