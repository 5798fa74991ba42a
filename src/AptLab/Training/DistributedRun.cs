using AptLab.Torch.Distributed;

namespace AptLab.Training;

/// <summary>
/// Rank-0 duties of a data-parallel run: only the main process writes checkpoints, logs and samples; the others
/// wait at a barrier so that nobody reads a checkpoint before it is complete. A null group means one process.
/// </summary>
public static class DistributedRun
{
    /// <summary>Rank 0 of <paramref name="group"/>, or true without a group.</summary>
    public static bool IsMainProcess(ProcessGroup? group) => group is null || group.IsMainProcess;

    /// <summary>From the torchrun variables alone (before any group exists): RANK unset or 0.</summary>
    public static bool IsMainProcess() => Environment.GetEnvironmentVariable("RANK") is null or "" or "0";

    /// <summary>Runs <paramref name="write"/> on rank 0 only, then waits until all ranks got here.</summary>
    public static void OnMainProcess(ProcessGroup? group, Action write)
    {
        if (IsMainProcess(group)) write();
        group?.barrier();
    }

    /// <summary>Rank 0's <paramref name="value"/> on every rank (others may pass anything); the value itself
    /// without a group. For decisions all ranks must take alike (does a checkpoint exist, which run folder).</summary>
    public static bool BroadcastFlag(ProcessGroup? group, bool value)
    {
        if (group is null) return value;
        using var scope = torch.NewScope();
        var t = torch.tensor(new long[] { value ? 1 : 0 }, 1);
        group.broadcast(t, 0);
        return t.item<long>() != 0;
    }

    /// <summary>Rank 0's <paramref name="value"/> (UTF-8) on every rank; others pass null.</summary>
    public static string BroadcastString(ProcessGroup? group, string? value)
    {
        if (group is null) return value ?? throw new ArgumentNullException(nameof(value));
        if (group.IsMainProcess && value is null) throw new ArgumentNullException(nameof(value), "rank 0 must provide the value");
        using var scope = torch.NewScope();
        var bytes = group.IsMainProcess ? System.Text.Encoding.UTF8.GetBytes(value!) : [];
        var length = torch.tensor(new long[] { bytes.Length }, 1);
        group.broadcast(length, 0);
        var data = group.IsMainProcess ? torch.tensor(bytes, bytes.Length) : torch.zeros([length.item<long>()], ScalarType.UInt8);
        if (data.numel() > 0) group.broadcast(data, 0);
        return System.Text.Encoding.UTF8.GetString(data.data<byte>());
    }

    /// <summary>Overwrites <paramref name="tensors"/> (same shapes on every rank) with rank 0's values, bucketed.</summary>
    public static void Broadcast(ProcessGroup? group, IEnumerable<Tensor> tensors)
    {
        if (group is null) return;
        var buckets = TensorBucket.Plan(tensors.ToArray(), DistributedDataParallel.DefaultBucketCapBytes);
        try { foreach (var b in buckets) b.BroadcastValues(group, 0); }
        finally { foreach (var b in buckets) b.Dispose(); }
    }

    /// <summary>Rank 0's parameters and buffers of <paramref name="modules"/> on every rank (after stages that
    /// every rank computed alike, so that they are identical to the bit).</summary>
    public static void BroadcastModules(ProcessGroup? group, params Torch.nn.Module[] modules) =>
        Broadcast(group, modules.SelectMany(m => m.parameters().Cast<Tensor>().Concat(m.named_buffers().Select(b => b.buffer))));

    /// <summary>Saves <paramref name="module"/>'s state dict to <paramref name="path"/> from rank 0 only (the
    /// state dict does not depend on the world size, so a run resumes at any world size).</summary>
    public static void SaveCheckpoint(ProcessGroup? group, Torch.nn.Module module, string path) =>
        OnMainProcess(group, () => Torch.IO.Checkpoint.Save(path, module.state_dict()));
}
