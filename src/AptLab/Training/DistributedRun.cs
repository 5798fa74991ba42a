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

    /// <summary>Saves <paramref name="module"/>'s state dict to <paramref name="path"/> from rank 0 only (the
    /// state dict does not depend on the world size, so a run resumes at any world size).</summary>
    public static void SaveCheckpoint(ProcessGroup? group, Torch.nn.Module module, string path) =>
        OnMainProcess(group, () => Torch.IO.Checkpoint.Save(path, module.state_dict()));
}
