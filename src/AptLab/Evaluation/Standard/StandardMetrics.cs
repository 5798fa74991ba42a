using AptLab.Evaluation.Fid;
using AptLab.Evaluation.Fvd;
using AptLab.Evaluation.Sync;

namespace AptLab.Evaluation.Standard;

/// <summary>
/// The standard metrics with their networks loaded once (docs/evaluation.md): FID (frame-wise for videos), FVD
/// (I3D logits of 16-frame clips) and Sync-C/Sync-D. Every weights file is resolved when the set is opened, so a
/// missing file is reported before any work.
/// </summary>
public sealed class StandardMetrics : IDisposable
{
    /// <summary>The label every number computed with random networks carries.</summary>
    public const string RandomLabel = "random weights (not comparable to published numbers)";

    public FidInceptionV3? FidNet { get; }
    public InceptionI3d? I3d { get; }
    public SyncNet? SyncNet { get; }
    public EvaluationConfig Config { get; }
    /// <summary>Per metric: the weights file used, or <see cref="RandomLabel"/>.</summary>
    public IReadOnlyDictionary<string, string> Weights { get; }

    private StandardMetrics(EvaluationConfig cfg, FidInceptionV3? fid, InceptionI3d? i3d, SyncNet? sync, Dictionary<string, string> weights)
        => (Config, FidNet, I3d, SyncNet, Weights) = (cfg, fid, i3d, sync, weights);

    /// <summary>Loads the networks of <see cref="EvaluationConfig.Metrics"/> (or random ones).</summary>
    public static StandardMetrics Open(EvaluationConfig cfg, Device? device = null)
    {
        var weights = new Dictionary<string, string>();
        foreach (var m in cfg.Metrics.Distinct()) weights[m] = cfg.RandomWeights ? RandomLabel : cfg.WeightsFile(m);   // all resolved first
        FidInceptionV3? fid = null; InceptionI3d? i3d = null; SyncNet? sync = null;
        try
        {
            if (weights.ContainsKey("fid")) fid = cfg.RandomWeights ? FidWeights.Random(0, device) : FidWeights.Load(weights["fid"], device);
            if (weights.ContainsKey("fvd")) i3d = cfg.RandomWeights ? I3dWeights.Random(1, device) : I3dWeights.Load(weights["fvd"], device);
            if (weights.ContainsKey("sync")) sync = cfg.RandomWeights ? SyncWeights.Random(2, device) : SyncWeights.Load(weights["sync"], device);
        }
        catch { fid?.Dispose(); i3d?.Dispose(); sync?.Dispose(); throw; }
        return new StandardMetrics(cfg, fid, i3d, sync, weights);
    }

    public bool RandomWeights => Config.RandomWeights;

    /// <summary>FID features [N, 2048] (float64) of images [3, H, W] in [0, 1] (video frames count as images).</summary>
    public Tensor FidFeatures(IEnumerable<Tensor> images) =>
        Fid.FidFeatures.Compute(FidNet ?? throw new InvalidOperationException("FID was not requested"), images);

    /// <summary>FVD features [N, 400] of videos [3, T, H, W] in [0, 1] (each gives its first clip).</summary>
    public Tensor FvdFeatures(IEnumerable<(string name, Tensor video)> videos)
    {
        var net = I3d ?? throw new InvalidOperationException("FVD was not requested");
        return FvdClips.Logits(net, videos.Select(v => { using (v.video) return FvdClips.Prepare(v.video, Config.FvdFrames, v.name); }));
    }

    /// <summary>Sync-C/Sync-D of one clip: 25 fps frames, a face box, mono 16 kHz audio in [-1, 1].</summary>
    public SyncScores Sync(IReadOnlyList<AptLab.Data.Media.RgbImage> frames, FaceBox box, ReadOnlySpan<float> audio16k) =>
        new SyncEvaluator(SyncNet ?? throw new InvalidOperationException("Sync was not requested")).Evaluate(frames, box, audio16k);

    public void Dispose()
    {
        FidNet?.Dispose();
        I3d?.Dispose();
        SyncNet?.Dispose();
    }
}
