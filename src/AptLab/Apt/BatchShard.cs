using AptLab.Diffusion;

namespace AptLab.Apt;

/// <summary>
/// This rank's share of every global micro-batch in data-parallel APT. Every rank draws the WHOLE global
/// micro-batch (real data, noise z, timesteps, R1/R2 noise) from the same (seed, update) generator and keeps
/// rows [rank b, (rank + 1) b) of it, b = global / world_size. The random stream is therefore the one a single
/// process with micro_batch x world_size consumes, so world_size ranks reproduce that process (up to the order of
/// float sums). <see cref="Whole"/> (one process) returns everything unchanged and draws exactly as before.
/// </summary>
public sealed class BatchShard
{
    public int Rank { get; }
    public int WorldSize { get; }

    public BatchShard(int rank, int worldSize)
    {
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
            throw new ArgumentException($"rank {rank} must lie in [0, world size {worldSize})");
        (Rank, WorldSize) = (rank, worldSize);
    }

    /// <summary>One process: the shard is the whole batch.</summary>
    public static readonly BatchShard Whole = new(0, 1);

    public bool IsWhole => WorldSize == 1;

    /// <summary>Rows of this rank: global [B, ...] -> [B / world, ...] (a view).</summary>
    public Tensor Of(Tensor global)
    {
        if (IsWhole) return global;
        long b = global.size(0);
        if (b % WorldSize != 0)
            throw new ArgumentException($"a global micro-batch of {b} samples does not split over {WorldSize} ranks");
        long local = b / WorldSize;
        return global.narrow(0, Rank * local, local);
    }

    /// <summary>The real micro-batch of this rank (latents and every conditioning tensor).</summary>
    public RealBatch Of(RealBatch global) => IsWhole ? global : new RealBatch(Of(global.Latents), Of(global.Condition));

    /// <summary>This rank's rows of every conditioning tensor.</summary>
    public Conditioning Of(Conditioning c) => IsWhole ? c : c.Map(Of);

    /// <summary>Standard normal noise shaped like this rank's <paramref name="local"/>: drawn for the global batch
    /// ([B_local x world, ...]) and sliced.</summary>
    public Tensor Randn(Tensor local, Generator rng)
    {
        if (IsWhole) return torch.randn(local.shape, local.dtype, local.device, rng);
        var shape = local.shape.ToArray();
        shape[0] *= WorldSize;
        using var scope = torch.NewScope();
        return scope.Keep(Of(torch.randn(shape, local.dtype, local.device, rng)).contiguous());
    }

    /// <summary>Discriminator timesteps t = shift(u, s) [localBatch]: drawn for the global batch and sliced.</summary>
    public Tensor Timesteps(long localBatch, double shift, Generator rng, Device device)
    {
        if (IsWhole) return FlowMatch.SampleSigmas(localBatch, shift, rng, device);
        using var scope = torch.NewScope();
        return scope.Keep(Of(FlowMatch.SampleSigmas(localBatch * WorldSize, shift, rng, device)).contiguous());
    }
}
