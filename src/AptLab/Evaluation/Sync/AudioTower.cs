using AptLab.Torch.nn;

namespace AptLab.Evaluation.Sync;

/// <summary>
/// SyncNet's audio CNN (<c>netcnnaud</c>): a 13 x 20 MFCC window [N, 1, 13, 20] -> [N, 512, 1, 1]. Indices are the
/// official Sequential's, so keys read <c>netcnnaud.0.weight</c>, <c>netcnnaud.1.running_var</c>, ...
/// </summary>
public static class AudioTower
{
    public static Sequential Build(Device? device = null)
    {
        Conv2d Conv(long cin, long cout, long[] k, long p) => new(cin, cout, k, [1], [p], device: device);
        BatchNorm2d Bn(long c) => new(c, device: device);
        return new Sequential(
            Conv(1, 64, [3, 3], 1), Bn(64), new ReLU(),                       // [N, 64, 13, 20]
            new MaxPool2d([1, 1], [1, 1]),
            Conv(64, 192, [3, 3], 1), Bn(192), new ReLU(),
            new MaxPool2d([3, 3], [1, 2]),                                    // [N, 192, 11, 9]
            Conv(192, 384, [3, 3], 1), Bn(384), new ReLU(),
            Conv(384, 256, [3, 3], 1), Bn(256), new ReLU(),
            Conv(256, 256, [3, 3], 1), Bn(256), new ReLU(),
            new MaxPool2d([3, 3], [2, 2]),                                    // [N, 256, 5, 4]
            Conv(256, 512, [5, 4], 0), Bn(512), new ReLU());                  // [N, 512, 1, 1]
    }
}
