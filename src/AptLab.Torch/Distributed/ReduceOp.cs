namespace AptLab.Torch.Distributed;

/// <summary>Reductions of the collectives (torch.distributed.ReduceOp). Avg is the sum divided by the world size.</summary>
public enum ReduceOp
{
    Sum = 0,
    Avg = 1,
    Max = 2,
    Min = 3,
    Product = 4,
}
