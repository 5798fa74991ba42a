using System.Text.Json.Nodes;
using AptLab.Torch.Distributed;

namespace AptLab.Training;

/// <summary>
/// The parameters of one FSDP unit (a DiT block, or the rest of the model) flattened into one vector, zero-padded to
/// a multiple of the world size N and split into N equal shards; this rank keeps shard r = elements
/// [r S, (r + 1) S), S = padded / N, in the master dtype (float32 under bf16-mixed) as <see cref="Shard"/>, the
/// tensor the optimizer steps. The module's own parameters keep their identity but hold no storage between uses: a
/// gather all-gathers the shards in the compute dtype into one flat buffer and points every parameter at its slice;
/// a free points them back at an empty tensor. Gradients of the compute copies are flattened, converted to the master
/// dtype and reduce-scattered (averaged) into <see cref="Shard"/>.grad. Layout (offsets, shapes, padding) is
/// independent of the dtypes and, but for the padding, of N, which is what lets a checkpoint reshard to another world
/// size. docs/precision-and-parallelism.md.
/// </summary>
internal sealed class FlatParameter : IDisposable
{
    public sealed record Member(string Name, Parameter Param, long[] Shape, long Offset, long Numel);

    /// <summary>e.g. "blocks.3._flat_param" (trainable) or "blocks.3._flat_param_frozen".</summary>
    public string Name { get; }
    public IReadOnlyList<Member> Members { get; }
    public bool Trainable { get; }
    public long Numel { get; }
    public long Padded { get; }
    public long ShardNumel { get; }
    public ScalarType ComputeDtype { get; }
    /// <summary>The dtype of the shard: the master dtype when trainable, the compute dtype when frozen.</summary>
    public ScalarType StoreDtype { get; }
    public Device Device { get; }
    /// <summary>This rank's shard [ShardNumel] (a leaf that requires grad when trainable: the optimizer's tensor).</summary>
    public Tensor Shard { get; }
    public bool IsGathered => gathered is not null;

    /// <summary>Per member: whether a backward ever gave it a gradient. A whole-model optimizer keeps state only for
    /// those (it skips parameters without a gradient), so the consolidated optimizer state lists exactly them. The
    /// same on every rank when the graph is; optimizer_state_dict ORs it over the ranks.</summary>
    public bool[] HadGradient { get; }

    private readonly ProcessGroup group;
    private Tensor? gathered;       // [Padded] compute dtype, while gathered
    private Tensor? localGrad;      // [Padded] master dtype: unsharded accumulation inside no_sync

    public FlatParameter(string name, IReadOnlyList<(string name, Parameter p)> members, bool trainable, Precision precision,
        ProcessGroup group, Device device)
    {
        Name = name;
        Trainable = trainable;
        this.group = group;
        Device = device;
        var modelDtype = members[0].p.dtype;
        ComputeDtype = precision.ComputeDtype(modelDtype);
        StoreDtype = trainable ? precision.MasterDtype(modelDtype) : ComputeDtype;
        var list = new List<Member>();
        long offset = 0;
        foreach (var (n, p) in members)
        {
            if (!p.dtype.IsFloatingPoint()) throw new ArgumentException($"FullyShardedDataParallel: '{n}' is {p.dtype.TorchName()}, not floating point");
            list.Add(new Member(n, p, p.shape, offset, p.numel()));
            offset += p.numel();
        }
        Members = list;
        HadGradient = new bool[list.Count];
        Numel = offset;
        int world = group.world_size;
        Padded = (Numel + world - 1) / world * world;
        ShardNumel = Padded / world;

        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        Tensor shard;
        if (members.Any(m => m.p.device.Type == DeviceType.Meta))
            shard = torch.zeros([ShardNumel], StoreDtype, device);                         // built on meta: load weights next
        else
        {
            // rank 0's values on every rank (in the model's dtype, exactly), then this rank's slice in the store dtype
            var full = torch.zeros([Padded], modelDtype, device);                            // [Padded]
            foreach (var m in Members) full.narrow(0, m.Offset, m.Numel).copy_(m.Param.reshape(-1));
            if (world > 1) group.broadcast(full, 0);
            shard = full.narrow(0, group.rank * ShardNumel, ShardNumel).to(StoreDtype).clone();
        }
        Shard = trainable ? new Parameter(shard) : scope.Keep(shard).DetachFromScope();
        foreach (var m in Members)
            if (m.Param.device == Device) m.Param.set_data(Empty());
            else m.Param.set_data_any_device(Empty());                                           // built on meta
    }

    private Tensor Empty() => torch.empty([0], ComputeDtype, Device);

    /// <summary>All-gathers the shards (in the compute dtype) and points every member parameter at its slice.</summary>
    public void Gather()
    {
        if (gathered is not null) return;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var src = Shard.dtype == ComputeDtype ? Shard.detach() : Shard.to(ComputeDtype);          // [S]
        var full = torch.empty([Padded], ComputeDtype, Device);                                   // [Padded]
        if (group.world_size == 1) full.copy_(src);
        else group.all_gather_into_tensor(full, src);
        foreach (var m in Members) m.Param.set_data(full.narrow(0, m.Offset, m.Numel).view(m.Shape));
        gathered = scope.Keep(full).DetachFromScope();
    }

    /// <summary>Points every member back at an empty tensor and frees the gathered buffer (and any member
    /// gradients).</summary>
    public void Free()
    {
        if (gathered is null) return;
        using var scope = torch.NewScope();
        foreach (var m in Members)
        {
            m.Param.grad = null;
            m.Param.set_data(Empty());
        }
        gathered.Dispose();
        gathered = null;
    }

    /// <summary>Whether a backward may have produced gradients for this flat now: trainable and some member requires
    /// grad (a structural fact, the same on every rank, so every rank takes the same collectives).</summary>
    public bool ExpectsGradients => Trainable && Members.Any(m => m.Param.requires_grad);

    /// <summary>The members' gradients (compute dtype) -> one flat vector in the master dtype (zeros where a member
    /// has none, and in the padding) -> averaged over ranks into this rank's slice, added to Shard.grad; or, inside
    /// no_sync, added to the local unsharded accumulator. The members' gradients are cleared.</summary>
    public void ReduceGradients(bool syncing)
    {
        if (!ExpectsGradients)
        {
            foreach (var m in Members) m.Param.grad = null;
            return;
        }
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var flat = torch.zeros([Padded], StoreDtype, Device);                                     // [Padded]
        for (int i = 0; i < Members.Count; i++)
        {
            var m = Members[i];
            var g = m.Param.grad;
            if (g is null) continue;
            flat.narrow(0, m.Offset, m.Numel).copy_(g.reshape(-1));
            m.Param.grad = null;
            HadGradient[i] = true;
        }
        if (syncing) AddToShardGrad(ReduceScatter(flat));
        else if (localGrad is null) localGrad = scope.Keep(flat).DetachFromScope();
        else localGrad.add_(flat);
    }

    /// <summary>Reduce-scatters what no_sync accumulated locally (nothing when nothing was).</summary>
    public void SyncLocalGradients()
    {
        if (localGrad is null) return;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        AddToShardGrad(ReduceScatter(localGrad));
        localGrad.Dispose();
        localGrad = null;
    }

    // [Padded] -> this rank's slice [S] of the average over ranks (the input is overwritten on Gloo).
    private Tensor ReduceScatter(Tensor flat)
    {
        if (group.world_size == 1) return flat.narrow(0, 0, ShardNumel);
        var part = torch.empty([ShardNumel], StoreDtype, Device);
        group.reduce_scatter_tensor(part, flat, ReduceOp.Avg);
        return part;
    }

    private void AddToShardGrad(Tensor part)
    {
        if (Shard.grad is { } g) g.add_(part);
        else Shard.grad = part.clone();
    }

    public void ZeroGrad()
    {
        Shard.grad = null;
        localGrad?.Dispose();
        localGrad = null;
        foreach (var m in Members) m.Param.grad = null;
    }

    // ---- layout conversions (checkpoints) ----

    /// <summary>This rank's [S] slice of the flat vector whose members are given whole under their names, in
    /// <paramref name="dtype"/> (reads only the overlapping part of each member: memory-mapped weights stay
    /// mostly on disk).</summary>
    public Tensor ShardFromFull(IReadOnlyDictionary<string, Tensor> full, ScalarType dtype, string source)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var result = torch.zeros([ShardNumel], dtype, Device);
        long lo = group.rank * ShardNumel, hi = lo + ShardNumel;
        foreach (var m in Members)
        {
            long a = Math.Max(lo, m.Offset), b = Math.Min(hi, m.Offset + m.Numel);
            if (a >= b) continue;
            if (!full.TryGetValue(m.Name, out var t)) throw new InvalidDataException($"{source}: '{m.Name}' is missing");
            if (!t.shape.SequenceEqual(m.Shape))
                throw new InvalidDataException($"{source}: '{m.Name}' has shape [{string.Join(", ", t.shape)}], the model has [{string.Join(", ", m.Shape)}]");
            result.narrow(0, a - lo, b - a).copy_(t.reshape(-1).narrow(0, a - m.Offset, b - a));
        }
        return scope.Keep(result);
    }

    /// <summary>Gathers a tensor shaped like <see cref="Shard"/> from every rank (a collective) and, on rank 0, splits
    /// it into the members under their names: new tensors in <paramref name="dtype"/> (or the shard's) in host memory
    /// (PyTorch FSDP's offload_to_cpu: a whole 14B state in float32 would not fit beside the shards on one GPU).</summary>
    public Dictionary<string, Tensor> FullFromShards(Tensor local, ScalarType? dtype = null)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var src = local.detach().contiguous();
        var full = torch.empty([Padded], src.dtype, Device);
        if (group.world_size == 1) full.copy_(src);
        else group.all_gather_into_tensor(full, src);
        var d = new Dictionary<string, Tensor>();
        if (!group.IsMainProcess) return d;
        foreach (var m in Members)
        {
            var v = full.narrow(0, m.Offset, m.Numel).view(m.Shape);
            var dt = dtype ?? v.dtype;
            d[m.Name] = scope.Keep(v.device == Device.CPU ? (dt != v.dtype ? v.to(dt) : v.clone()) : v.to(Device.CPU, dt));
        }
        return d;
    }

    /// <summary>This rank's shard from the shards of another world size (the same layout but for the padding):
    /// <paramref name="oldShards"/>[r] is old rank r's slice, all of equal length.</summary>
    public Tensor Reshard(IReadOnlyList<Tensor> oldShards, string source)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        long oldS = oldShards[0].numel();
        if (oldShards.Any(t => t.numel() != oldS) || oldS * oldShards.Count < Numel)
            throw new InvalidDataException($"{source}: the shards of '{Name}' ({string.Join(", ", oldShards.Select(t => t.numel()))} elements) do not hold its {Numel} elements");
        var result = torch.zeros([ShardNumel], oldShards[0].dtype, Device);
        long lo = group.rank * ShardNumel, hi = Math.Min(lo + ShardNumel, Numel);
        for (long pos = lo; pos < hi;)
        {
            int r = (int)(pos / oldS);
            long off = pos % oldS, len = Math.Min(hi - pos, oldS - off);
            result.narrow(0, pos - lo, len).copy_(oldShards[r].reshape(-1).narrow(0, off, len));
            pos += len;
        }
        return scope.Keep(result);
    }

    /// <summary>The layout as JSON (written into sharded checkpoints, checked when they are read).</summary>
    public JsonObject Describe() => new()
    {
        ["name"] = Name,
        ["numel"] = Numel,
        ["members"] = new JsonArray(Members.Select(m => (JsonNode)new JsonObject
        {
            ["name"] = m.Name, ["offset"] = m.Offset, ["shape"] = new JsonArray(m.Shape.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
        }).ToArray()),
    };

    public void Dispose()
    {
        Free();
        localGrad?.Dispose();
        Shard.Dispose();
    }
}
