using AptLab.Torch.nn;

namespace AptLab.Evaluation.Sync;

/// <summary>
/// SyncNet's lip CNN (<c>netcnnlip</c>): 5 colour frames [N, 3, 5, 224, 224] (raw 0..255, BGR as cv2 reads them)
/// -> [N, 512, 1, 1, 1]. Indices are the official Sequential's (<c>netcnnlip.0.weight</c>, ...).
/// </summary>
public static class LipTower
{
    public static Sequential Build(Device? device = null)
    {
        Conv3d Conv(long cin, long cout, long[] k, long[] s, long[] p) => new(cin, cout, k, s, p, device: device);
        BatchNorm3d Bn(long c) => new(c, device: device);
        return new Sequential(
            Conv(3, 96, [5, 7, 7], [1, 2, 2], [0]), Bn(96), new ReLU(),      // [N, 96, 1, 109, 109]
            new MaxPool3d([1, 3, 3], [1, 2, 2]),                              // 54
            Conv(96, 256, [1, 5, 5], [1, 2, 2], [0, 1, 1]), Bn(256), new ReLU(),   // 26
            new MaxPool3d([1, 3, 3], [1, 2, 2], [0, 1, 1]),                   // 13
            Conv(256, 256, [1, 3, 3], [1], [0, 1, 1]), Bn(256), new ReLU(),
            Conv(256, 256, [1, 3, 3], [1], [0, 1, 1]), Bn(256), new ReLU(),
            Conv(256, 256, [1, 3, 3], [1], [0, 1, 1]), Bn(256), new ReLU(),
            new MaxPool3d([1, 3, 3], [1, 2, 2]),                              // 6
            Conv(256, 512, [1, 6, 6], [1], [0]), Bn(512), new ReLU());        // [N, 512, 1, 1, 1]
    }
}
