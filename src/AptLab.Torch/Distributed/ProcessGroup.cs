using System.Runtime.InteropServices;

namespace AptLab.Torch.Distributed;

/// <summary>
/// A c10d process group (torch.distributed's ProcessGroup): the ranks of one job, joined through a TCPStore
/// rendezvous, with libtorch's Gloo (CPU) or NCCL (CUDA build) collectives. Collectives are synchronous and
/// work in place where PyTorch's do. Every rank must call the same collectives in the same order with tensors
/// of the same shape and dtype. A failure, including a peer that died or stayed silent past the timeout,
/// throws <see cref="DistributedException"/> naming the operation and this rank.
/// </summary>
public sealed unsafe class ProcessGroup : IDisposable
{
    private IntPtr handle;

    public DistributedOptions Options { get; }
    public int rank => Options.Rank;
    public int world_size => Options.WorldSize;
    public int local_rank => Options.LocalRank;
    public string backend => Options.Backend;
    /// <summary>Rank 0: the process that writes checkpoints, logs and samples.</summary>
    public bool IsMainProcess => Options.Rank == 0;
    /// <summary>False on Gloo: reduce_scatter is then one all_reduce of the stacked inputs.</summary>
    public bool HasNativeReduceScatter => Options.Backend != "gloo";

    /// <summary>True when the shim was built with c10d (Debian: libgloo-dev present at `make native`).</summary>
    public static bool IsAvailable => Native.apt_c10d_available() != 0;

    /// <summary>The backends this shim was built with ("gloo", and "nccl" on a CUDA build).</summary>
    public static string[] Backends =>
        (Marshal.PtrToStringUTF8(Native.apt_c10d_backends()) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);

    private ProcessGroup(IntPtr handle, DistributedOptions options)
    {
        this.handle = handle;
        Options = options;
    }

    /// <summary>Joins the group described by <paramref name="options"/>; blocks until all ranks arrived
    /// (or the timeout passed).</summary>
    public static ProcessGroup Init(DistributedOptions options)
    {
        options.Validate();
        var h = Native.apt_pg_new(options.Backend, options.MasterAddr, options.MasterPort, options.Rank, options.WorldSize,
            (long)options.Timeout.TotalMilliseconds, options.StorePrefix, options.SocketInterface ?? "", options.DeviceHost);
        if (h == IntPtr.Zero)
            throw new DistributedException("init", options.Rank, options.WorldSize,
                $"joining the {options.Backend} process group failed: {Native.LastError()}");
        return new ProcessGroup(h, options);
    }

    /// <summary>Joins the group of the torchrun variables (set by `aptlab launch`).</summary>
    public static ProcessGroup InitFromEnvironment(TimeSpan? timeout = null)
    {
        var o = DistributedOptions.FromEnvironment();
        return Init(timeout is { } t ? o with { Timeout = t } : o);
    }

    private IntPtr H => handle != IntPtr.Zero ? handle : throw new ObjectDisposedException(nameof(ProcessGroup));

    private void Check(int status, string op)
    {
        if (status < 0) throw new DistributedException(op, rank, world_size, Native.LastError());
    }

    /// <summary>In place: every rank's <paramref name="tensor"/> becomes the reduction over all ranks.</summary>
    public void all_reduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        Check(Native.apt_pg_allreduce(H, tensor.H, (int)op), "all_reduce");
        GC.KeepAlive(tensor);
    }

    /// <summary>In place: every rank's <paramref name="tensor"/> becomes rank <paramref name="src"/>'s.</summary>
    public void broadcast(Tensor tensor, int src = 0)
    {
        Check(Native.apt_pg_broadcast(H, tensor.H, src), "broadcast");
        GC.KeepAlive(tensor);
    }

    /// <summary>Every rank's <paramref name="tensor"/> (same shape everywhere), in rank order.</summary>
    public Tensor[] all_gather(Tensor tensor)
    {
        var outs = new IntPtr[world_size];
        int n;
        fixed (IntPtr* p = outs) n = Native.apt_pg_allgather(H, tensor.H, p, outs.Length);
        GC.KeepAlive(tensor);
        Check(n, "all_gather");
        return outs.Take(n).Select(h => Tensor.Wrap(h)).ToArray();
    }

    /// <summary><paramref name="output"/> = reduction over ranks of their <c>inputs[rank]</c>;
    /// <paramref name="inputs"/> holds world_size tensors shaped like <paramref name="output"/>.</summary>
    public void reduce_scatter(Tensor output, IReadOnlyList<Tensor> inputs, ReduceOp op = ReduceOp.Sum)
    {
        var hs = inputs.Select(t => t.H).ToArray();
        int used;
        int status;
        fixed (IntPtr* p = hs) status = Native.apt_pg_reduce_scatter(H, output.H, p, hs.Length, (int)op, &used);
        GC.KeepAlive(output);
        GC.KeepAlive(inputs);
        Check(status, "reduce_scatter");
    }

    /// <summary>In place: <paramref name="output"/> (contiguous 1-D, world_size x <paramref name="input"/>.numel()
    /// elements of its dtype) becomes every rank's <paramref name="input"/> flattened, in rank order
    /// (torch.distributed.all_gather_into_tensor). Any dtype (on Gloo, bfloat16 travels as its bytes).</summary>
    public void all_gather_into_tensor(Tensor output, Tensor input)
    {
        Check(Native.apt_pg_allgather_into(H, output.H, input.H), "all_gather_into_tensor");
        GC.KeepAlive(output);
        GC.KeepAlive(input);
    }

    /// <summary><paramref name="output"/> = reduction over ranks of their <paramref name="input"/> slice
    /// [rank n, (rank + 1) n), n = output.numel(), for a contiguous 1-D input of world_size x n elements
    /// (torch.distributed.reduce_scatter_tensor). On Gloo (<see cref="HasNativeReduceScatter"/> false) it is one
    /// all_reduce of <paramref name="input"/> in place, whose values are then overwritten.</summary>
    public void reduce_scatter_tensor(Tensor output, Tensor input, ReduceOp op = ReduceOp.Sum)
    {
        Check(Native.apt_pg_reduce_scatter_flat(H, output.H, input.H, (int)op), "reduce_scatter_tensor");
        GC.KeepAlive(output);
        GC.KeepAlive(input);
    }

    /// <summary>Waits until every rank arrived (Gloo: rank 0 names the ranks missing at the timeout).</summary>
    public void barrier() => Check(Native.apt_pg_barrier(H), "barrier");

    public void Dispose()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h != IntPtr.Zero) Native.apt_pg_free(h);
    }
}
