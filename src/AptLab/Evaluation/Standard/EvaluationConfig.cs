using AptLab.Evaluation.Weights;
using AptLab.Config;

namespace AptLab.Evaluation.Standard;

/// <summary>
/// The <c>evaluation:</c> section of a config: which standard metrics to compute and where their public weights are
/// (docs/evaluation.md). Absent, the comparison scores with AptLab's built-in features only.
/// </summary>
public sealed class EvaluationConfig : IValidatable
{
    public static readonly string[] Known = ["fid", "fvd", "sync"];

    /// <summary>Metrics to compute: fid, fvd, sync.</summary>
    public List<string> Metrics { get; set; } = [];
    /// <summary>Folder holding the weights under their usual names (default checkpoints/eval).</summary>
    public string WeightsDir { get; set; } = "";
    /// <summary>Explicit files, overriding the folder: pt_inception-2015-12-05-6726825d.pth, i3d_pretrained_400.pt, syncnet_v2.model.</summary>
    public string FidWeights { get; set; } = "";
    public string FvdWeights { get; set; } = "";
    public string SyncWeights { get; set; } = "";
    /// <summary>Seeded random networks instead of the weights (smoke runs; numbers labelled as not comparable).</summary>
    public bool RandomWeights { get; set; }
    /// <summary>Frames per FVD clip (16 is the standard protocol; at least 9 for I3D).</summary>
    public int FvdFrames { get; set; } = Fvd.FvdClips.Frames;

    public void Validate(string key, string? file)
    {
        foreach (var m in Metrics)
            if (!Known.Contains(m)) throw ConfigException.For(file, key + ".metrics", $"'{m}' is not one of {string.Join(", ", Known)}");
        if (FvdFrames < 9) throw ConfigException.For(file, key + ".fvd_frames", "I3D needs at least 9 frames");
    }

    /// <summary>The weights file of a metric, resolved (an error naming the file and where to get it when missing).</summary>
    public string WeightsFile(string metric) => metric switch
    {
        "fid" => EvaluationWeights.Resolve(Fid.FidWeights.Info, WeightsDir, FidWeights),
        "fvd" => EvaluationWeights.Resolve(Fvd.I3dWeights.Info, WeightsDir, FvdWeights),
        "sync" => EvaluationWeights.Resolve(Sync.SyncWeights.Info, WeightsDir, SyncWeights),
        _ => throw new ArgumentException($"unknown metric '{metric}'"),
    };
}
