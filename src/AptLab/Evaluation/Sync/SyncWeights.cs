using AptLab.Evaluation.Weights;
namespace AptLab.Evaluation.Sync;

/// <summary>Loading <c>syncnet_v2.model</c> (joonson/syncnet_python) under its own key names.</summary>
public static class SyncWeights
{
    public static readonly WeightsInfo Info = new("Sync-C/Sync-D", ["syncnet_v2.model"],
        "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model (joonson/syncnet_python download_model.sh)");

    public static SyncNet Load(string path, Device? device = null)
    {
        var model = new SyncNet();
        try
        {
            EvaluationWeights.Load(model, path, null, "SyncNet (S, 1024-d)");
            if (device is not null) model.to(device);
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    public static SyncNet Random(long seed = 0, Device? device = null)
    {
        var model = new SyncNet();
        EvaluationWeights.Randomize(model, seed);
        if (device is not null) model.to(device);
        return model;
    }
}
