using AptLab.Torch.Distributed;

namespace AptLab.Training;

/// <summary>
/// A run of same-dtype, same-device tensors (parameters, or their gradients) packed into one flat buffer so
/// that a single collective serves them all (PyTorch DDP's bucket). The buffer is allocated once and reused;
/// behind the values it holds one presence flag per tensor, so that gradient averaging can tell a parameter no
/// rank used (its gradient stays unset, as in PyTorch's reducer) from one used elsewhere.
/// </summary>
internal sealed class TensorBucket : IDisposable
{
    public readonly Tensor[] Tensors;
    private readonly long[] offsets;
    private readonly long[] numels;
    public readonly Tensor Flat;   // [sum of numels + number of tensors], the bucket's dtype and device
    private readonly long valuesNumel;

    private TensorBucket(Tensor[] tensors)
    {
        Tensors = tensors;
        numels = tensors.Select(p => p.numel()).ToArray();
        offsets = new long[tensors.Length];
        for (int i = 1; i < tensors.Length; i++) offsets[i] = offsets[i - 1] + numels[i - 1];
        valuesNumel = numels.Sum();
        Flat = torch.zeros([valuesNumel + tensors.Length], tensors[0].dtype, tensors[0].device).DetachFromScope();
    }

    /// <summary>Bytes of the tensors' values (without the presence flags).</summary>
    public long Bytes => valuesNumel * Flat.element_size();

    /// <summary>Splits <paramref name="tensors"/>, in the given order, into buckets of at most
    /// <paramref name="capBytes"/> (a tensor larger than the cap gets a bucket of its own) that never mix
    /// dtypes or devices.</summary>
    public static TensorBucket[] Plan(IReadOnlyList<Tensor> tensors, long capBytes)
    {
        var buckets = new List<TensorBucket>();
        var current = new List<Tensor>();
        long bytes = 0;
        foreach (var p in tensors)
        {
            long b = p.numel() * p.element_size();
            bool mismatch = current.Count > 0 && (current[0].dtype != p.dtype || current[0].device != p.device);
            if (current.Count > 0 && (mismatch || bytes + b > capBytes))
            {
                buckets.Add(new TensorBucket(current.ToArray()));
                current.Clear();
                bytes = 0;
            }
            current.Add(p);
            bytes += b;
        }
        if (current.Count > 0) buckets.Add(new TensorBucket(current.ToArray()));
        return buckets.ToArray();
    }

    /// <summary>grads -> buffer, one all_reduce (average) of the buffer, buffer -> grads. A parameter without a
    /// gradient on this rank contributes zeros and receives the average of the others; a parameter without a
    /// gradient on every rank keeps none (so the optimizer skips it and creates no state, as in one process).</summary>
    public void AverageGradients(ProcessGroup group)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var grads = new Tensor?[Tensors.Length];
        for (int i = 0; i < Tensors.Length; i++)
        {
            var slot = Flat.narrow(0, offsets[i], numels[i]);
            grads[i] = Tensors[i].grad;
            if (grads[i] is { } g) slot.copy_(g.reshape(-1));
            else slot.zero_();
        }
        var present = Flat.narrow(0, valuesNumel, Tensors.Length);                  // [tensors]: 1 where a gradient exists
        present.copy_(torch.tensor(grads.Select(g => g is null ? 0.0 : 1.0).ToArray(), [Tensors.Length]));
        group.all_reduce(Flat, ReduceOp.Avg);
        var usedAnywhere = present.to(ScalarType.Float64).data<double>();
        for (int i = 0; i < Tensors.Length; i++)
        {
            var slot = Flat.narrow(0, offsets[i], numels[i]).view(Tensors[i].shape);
            if (grads[i] is { } g) g.copy_(slot);
            else if (usedAnywhere[i] > 0) Tensors[i].grad = slot.clone();
        }
    }

    /// <summary>values -> buffer, broadcast from <paramref name="src"/>, buffer -> values.</summary>
    public void BroadcastValues(ProcessGroup group, int src)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        for (int i = 0; i < Tensors.Length; i++)
            Flat.narrow(0, offsets[i], numels[i]).copy_(Tensors[i].reshape(-1));
        group.broadcast(Flat, src);
        for (int i = 0; i < Tensors.Length; i++)
            Tensors[i].copy_(Flat.narrow(0, offsets[i], numels[i]).view(Tensors[i].shape));
    }

    public void Dispose() => Flat.Dispose();
}
