namespace AptLab.Training;

/// <summary>
/// Shards dataset indices across ranks (torch.utils.data.DistributedSampler, same indices for the same
/// arguments): each epoch the indices 0..N-1 are permuted with a generator seeded by seed + epoch, padded by
/// repeating the first ones (or cut, with dropLast) to a multiple of the replica count, and rank r takes every
/// replica-th index starting at r. All ranks see the same number of samples, so they run the same number of
/// steps; call <see cref="set_epoch"/> before each epoch for a fresh order.
/// </summary>
public sealed class DistributedSampler
{
    public long DatasetLength { get; }
    public int NumReplicas { get; }
    public int Rank { get; }
    public bool Shuffle { get; }
    public ulong Seed { get; }
    public bool DropLast { get; }
    public int Epoch { get; private set; }
    /// <summary>Indices this rank receives per epoch.</summary>
    public long NumSamples { get; }
    /// <summary>NumSamples x NumReplicas: the padded (or cut) length of one epoch over all ranks.</summary>
    public long TotalSize => NumSamples * NumReplicas;

    public DistributedSampler(long datasetLength, int numReplicas, int rank, bool shuffle = true, ulong seed = 0,
                              bool dropLast = false)
    {
        if (datasetLength < 1) throw new ArgumentException($"DistributedSampler: dataset length {datasetLength} must be positive");
        if (numReplicas < 1) throw new ArgumentException($"DistributedSampler: numReplicas={numReplicas} must be at least 1");
        if (rank < 0 || rank >= numReplicas)
            throw new ArgumentException($"DistributedSampler: rank {rank} must lie in [0, numReplicas={numReplicas})");
        if (dropLast && datasetLength < numReplicas)
            throw new ArgumentException($"DistributedSampler: dropLast with {datasetLength} samples leaves nothing for {numReplicas} replicas");
        (DatasetLength, NumReplicas, Rank, Shuffle, Seed, DropLast) = (datasetLength, numReplicas, rank, shuffle, seed, dropLast);
        NumSamples = dropLast && datasetLength % numReplicas != 0
            ? (datasetLength - numReplicas + numReplicas - 1) / numReplicas   // ceil((N - R) / R)
            : (datasetLength + numReplicas - 1) / numReplicas;                // ceil(N / R)
    }

    /// <summary>A sampler for this rank of <paramref name="group"/> (rank 0 of 1 without one).</summary>
    public static DistributedSampler For(Torch.Distributed.ProcessGroup? group, long datasetLength, bool shuffle = true,
                                         ulong seed = 0, bool dropLast = false) =>
        new(datasetLength, group?.world_size ?? 1, group?.rank ?? 0, shuffle, seed, dropLast);

    public void set_epoch(int epoch) => Epoch = epoch;

    /// <summary>This rank's indices for the current epoch, in the order to visit them.</summary>
    public long[] Indices()
    {
        long[] all;
        if (Shuffle)
        {
            using var g = new Generator(Seed + (ulong)Epoch);
            using var perm = torch.randperm(DatasetLength, g);
            all = perm.data<long>().ToArray();
        }
        else all = Enumerable.Range(0, checked((int)DatasetLength)).Select(i => (long)i).ToArray();

        var padded = new long[TotalSize];
        for (long i = 0; i < TotalSize; i++) padded[i] = all[i % all.Length];   // pad by wrapping, or cut
        var mine = new long[NumSamples];
        for (long i = 0; i < NumSamples; i++) mine[i] = padded[Rank + i * NumReplicas];
        return mine;
    }
}
