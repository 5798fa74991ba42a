using AptLab.Torch.Distributed;
using AptLab.Torch.nn;

namespace AptLab.Training;

/// <summary>
/// Data-parallel training over a <see cref="ProcessGroup"/> (torch.nn.parallel.DistributedDataParallel):
/// every rank holds the whole model and a shard of each batch. At construction the parameters and buffers of
/// rank 0 are broadcast to all ranks; <see cref="backward"/> backpropagates and then averages the gradients
/// over ranks, bucketed (gradients flattened into ~25 MB buffers in reverse registration order, one all_reduce
/// per bucket), so that every rank takes the same optimizer step. Inside <see cref="no_sync"/> the gradients
/// only accumulate locally (gradient accumulation); the next synchronised backward averages the sums.
/// Forward passes go to <see cref="module"/> directly; its state dict has no "module." prefix.
/// <para>Built over explicit tensors instead of a module (float32 masters under bf16-mixed,
/// <see cref="MixedPrecisionParameters"/>), it broadcasts and averages exactly those.</para>
/// </summary>
public sealed class DistributedDataParallel : IDisposable
{
    public const long DefaultBucketCapBytes = 25L * 1024 * 1024;

    /// <summary>The wrapped module (null when built over explicit tensors).</summary>
    public Module? module { get; }
    public ProcessGroup group { get; }
    private readonly TensorBucket[] gradBuckets;
    private readonly Tensor[] trainable, state;
    private int noSyncDepth;

    /// <param name="bucketCapBytes">largest gradient bucket (PyTorch's bucket_cap_mb, 25 MB).</param>
    public DistributedDataParallel(Module module, ProcessGroup group, long bucketCapBytes = DefaultBucketCapBytes)
        : this(module, module.parameters(onlyTrainable: true).ToArray<Tensor>(),
               module.parameters().Cast<Tensor>().Concat(module.named_buffers().Select(b => b.buffer)).ToArray(), group, bucketCapBytes) { }

    /// <summary>Data-parallel over <paramref name="parameters"/> (their gradients are averaged); rank 0's values of
    /// <paramref name="parameters"/> and of <paramref name="alsoBroadcast"/> (buffers, frozen weights) are
    /// broadcast now.</summary>
    public DistributedDataParallel(IReadOnlyList<Tensor> parameters, ProcessGroup group, IEnumerable<Tensor>? alsoBroadcast = null,
        long bucketCapBytes = DefaultBucketCapBytes)
        : this(null, parameters.ToArray(), parameters.Concat(alsoBroadcast ?? []).ToArray(), group, bucketCapBytes) { }

    private DistributedDataParallel(Module? module, Tensor[] trainable, Tensor[] state, ProcessGroup group, long bucketCapBytes)
    {
        if (bucketCapBytes <= 0) throw new ArgumentException($"bucketCapBytes={bucketCapBytes} must be positive");
        this.module = module;
        this.group = group;
        this.trainable = trainable;
        this.state = state;
        VerifySameModel();
        gradBuckets = TensorBucket.Plan(trainable.Reverse().ToArray(), bucketCapBytes);
        broadcast_state(src: 0);
    }

    /// <summary>Number of gradient buckets (one all_reduce each per synchronised step).</summary>
    public int BucketCount => gradBuckets.Length;
    public long[] BucketBytes => gradBuckets.Select(b => b.Bytes).ToArray();

    /// <summary>Copies rank <paramref name="src"/>'s parameters and buffers (or the given tensors) to every rank (bucketed).</summary>
    public void broadcast_state(int src = 0)
    {
        var buckets = TensorBucket.Plan(state, DefaultBucketCapBytes);
        try { foreach (var b in buckets) b.BroadcastValues(group, src); }
        finally { foreach (var b in buckets) b.Dispose(); }
    }

    /// <summary>loss.backward(), then (outside <see cref="no_sync"/>) the gradient average over ranks.</summary>
    public void backward(Tensor loss)
    {
        loss.backward();
        sync_gradients();
    }

    /// <summary>Averages the accumulated gradients over ranks, unless inside <see cref="no_sync"/>. For losses
    /// backpropagated by other means (Autograd.grad, several backward calls) before the step.</summary>
    public void sync_gradients()
    {
        if (noSyncDepth > 0) return;
        foreach (var b in gradBuckets) b.AverageGradients(group);
    }

    /// <summary>While the returned scope is open, backward only accumulates gradients locally.</summary>
    public IDisposable no_sync()
    {
        noSyncDepth++;
        return new NoSyncScope(this);
    }

    public bool IsSyncing => noSyncDepth == 0;

    private sealed class NoSyncScope(DistributedDataParallel owner) : IDisposable
    {
        private bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            owner.noSyncDepth--;
        }
    }

    // A model that differs between ranks would make the collectives disagree in size: catch it up front by
    // comparing (number of trainable tensors, their elements, all elements) across ranks.
    private void VerifySameModel()
    {
        using var scope = torch.NewScope();
        var stats = torch.tensor(new long[] { trainable.Length, trainable.Sum(p => p.numel()), state.Sum(p => p.numel()) }, [3]);
        var lo = stats.clone();
        var hi = stats.clone();
        group.all_reduce(lo, ReduceOp.Min);
        group.all_reduce(hi, ReduceOp.Max);
        if (!lo.eq(hi).all().item<bool>())
            throw new DistributedException("DistributedDataParallel", group.rank, group.world_size,
                $"the model differs between ranks: rank {group.rank} has {stats.data<long>()[0]} trainable tensors with " +
                $"{stats.data<long>()[1]} elements; minimum over ranks {string.Join('/', lo.data<long>().ToArray())}, " +
                $"maximum {string.Join('/', hi.data<long>().ToArray())}");
    }

    /// <summary>Frees the gradient buffers; the module and the group stay with their owners.</summary>
    public void Dispose()
    {
        foreach (var b in gradBuckets) b.Dispose();
    }
}
