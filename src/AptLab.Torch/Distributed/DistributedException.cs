namespace AptLab.Torch.Distributed;

/// <summary>A collective or the rendezvous failed: a peer died, stopped answering within the group's timeout,
/// or the arguments did not fit. <see cref="Operation"/> and <see cref="Rank"/> say where it was raised.</summary>
public sealed class DistributedException(string operation, int rank, int worldSize, string message)
    : Exception(message)
{
    public string Operation { get; } = operation;
    public int Rank { get; } = rank;
    public int WorldSize { get; } = worldSize;
}
