using AptLab.Torch.nn;

namespace AptLab.Evaluation.Sync;

/// <summary>SyncNet's fully connected heads (<c>netfcaud</c>, <c>netfclip</c>): 512 -> 512 -> BatchNorm1d -> ReLU -> embedding.</summary>
public static class EmbeddingHead
{
    public static Sequential Build(long embeddingDims = 1024, Device? device = null) => new(
        new Linear(512, 512, device: device), new BatchNorm1d(512, device: device), new ReLU(),
        new Linear(512, embeddingDims, device: device));
}
