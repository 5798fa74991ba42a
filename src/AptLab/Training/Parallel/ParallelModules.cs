using System.Net;
using System.Net.Sockets;
using AptLab.Torch.Distributed;
using AptLab.Torch.nn;

namespace AptLab.Training;

/// <summary>
/// How a trainer adopts the precision policy and the parallel mode (docs/precision-and-parallelism.md#adopting-the-policy):
/// one call wraps the trained network, and the trainer then drives the <see cref="IParallelModule"/> it gets back.
/// <code>
/// using var g = ParallelModules.Wrap(net, precision, parallel, group);   // ddp: whole replica; fsdp: 1/N shards
/// using var opt = new AdamW(g.parameters(), lr);                      // masters (or this rank's flat shards)
/// </code>
/// </summary>
public static class ParallelModules
{
    /// <summary>
    /// <paramref name="module"/> under <paramref name="precision"/>: <see cref="ReplicatedModule"/> for ddp (whole on
    /// every rank, gradients all-reduced when there is a group), <see cref="FullyShardedDataParallel"/> for fsdp (the
    /// blocks of <see cref="FullyShardedDataParallel.BlocksOf"/> as units unless <paramref name="units"/> are given;
    /// the model must run its blocks under activation checkpointing when gradients are on). Frozen parameters
    /// (requires_grad false) are cast to the compute dtype and never reduced.
    /// </summary>
    /// <param name="group">ddp: the ranks (null: one process); fsdp: required (a group of one for a single process,
    /// <see cref="GroupOfOne"/>)</param>
    /// <param name="device">fsdp: where the shards and gathered blocks live (default: the parameters' device; a model
    /// kept whole on the host is sharded onto the accelerator this way); its buffers move there too</param>
    public static IParallelModule Wrap(Module module, Precision precision, ParallelMode parallel, ProcessGroup? group,
        IReadOnlyList<Module>? units = null, Device? device = null)
    {
        if (parallel == ParallelMode.Ddp) return new ReplicatedModule(module, precision, group);
        if (group is null) throw new ArgumentException("parallel fsdp needs a process group (ParallelModules.GroupOfOne() for a single process)");
        if (device is { } d)
            foreach (var (_, b) in module.named_buffers())
                if (b.device != d)
                {
                    using var moved = b.to(d);
                    b.set_data_any_device(moved);
                }
        return new FullyShardedDataParallel(module, group, units ?? FullyShardedDataParallel.BlocksOf(module), precision, device);
    }

    /// <summary>A process group of this process alone (Gloo on 127.0.0.1, a free port): what fully sharded training
    /// runs on without `aptlab launch` (every collective is then a copy).</summary>
    public static ProcessGroup GroupOfOne()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return ProcessGroup.Init(new DistributedOptions { MasterPort = port, Rank = 0, WorldSize = 1, Timeout = TimeSpan.FromMinutes(5) });
    }
}
