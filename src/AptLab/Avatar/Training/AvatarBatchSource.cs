using AptLab.Avatar.Data;
using AptLab.Training;

namespace AptLab.Avatar.Training;

/// <summary>
/// Deals this rank's micro-batches for <see cref="OmniAvatarTrainer.TrainStep"/>: micro-batch k = step · accumulation
/// + micro is, within epoch k / per_epoch, positions [(k mod per_epoch) · b, … + b) of this rank's
/// <see cref="DistributedSampler"/> indices (reshuffled every epoch with seed + epoch). A function of the step alone,
/// so a resumed run continues the same sequence; incomplete micro-batches at an epoch's end are dropped.
/// </summary>
public sealed class AvatarBatchSource
{
    public AvatarCachedDataset Data { get; }
    public DistributedSampler Sampler { get; }
    public int MicroBatch { get; }
    public int Accumulation { get; }
    public int MicroBatchesPerEpoch { get; }
    private int cachedEpoch = -1;
    private long[] indices = [];

    public AvatarBatchSource(AvatarCachedDataset data, DistributedSampler sampler, int microBatch, int accumulation)
    {
        (Data, Sampler, MicroBatch, Accumulation) = (data, sampler, microBatch, accumulation);
        MicroBatchesPerEpoch = (int)(sampler.NumSamples / microBatch);
        if (MicroBatchesPerEpoch < 1)
            throw new ArgumentException($"{data.Count} clips over {sampler.NumReplicas} ranks give {sampler.NumSamples} per rank, fewer than micro_batch {microBatch}");
    }

    /// <summary>(epoch, first position) of micro-batch <paramref name="micro"/> of step <paramref name="step"/>.</summary>
    public (int epoch, int position) Locate(int step, int micro)
    {
        long k = (long)step * Accumulation + micro;
        return ((int)(k / MicroBatchesPerEpoch), (int)(k % MicroBatchesPerEpoch) * MicroBatch);
    }

    public AvatarBatch Get(int step, int micro)
    {
        var (epoch, pos) = Locate(step, micro);
        if (epoch != cachedEpoch)
        {
            Sampler.set_epoch(epoch);
            indices = Sampler.Indices();
            cachedEpoch = epoch;
        }
        return Data.Batch(indices.Skip(pos).Take(MicroBatch).ToArray());
    }
}
