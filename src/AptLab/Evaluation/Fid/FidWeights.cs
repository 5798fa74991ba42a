using AptLab.Evaluation.Weights;
namespace AptLab.Evaluation.Fid;

/// <summary>
/// Loading the FID weights: the FID checkpoint <c>pt_inception-2015-12-05-6726825d.pth</c> under torchvision's
/// Inception3 names (<c>Conv2d_1a_3x3.conv.weight</c>, <c>Mixed_5b.branch1x1.bn.running_var</c>, ...; its
/// <c>fc.*</c> classifier is recognised and not used), or a state dict under the wrapper's own names
/// (<c>blocks.0.0.conv.weight</c>, as pytorch-fid's <c>InceptionV3.state_dict()</c> has them).
/// </summary>
public static class FidWeights
{
    public static readonly WeightsInfo Info = new("FID", ["pt_inception-2015-12-05-6726825d.pth"],
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth");

    private static readonly Dictionary<string, string> WrapperOf = BuildWrapperOf();

    private static Dictionary<string, string> BuildWrapperOf()
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int b = 0; b < FidInceptionV3.CheckpointNames.Length; b++)
            for (int i = 0; i < FidInceptionV3.CheckpointNames[b].Length; i++)
                if (FidInceptionV3.CheckpointNames[b][i] is { } name) d[name] = $"blocks.{b}.{i}";
        return d;
    }

    /// <summary>The wrapper key of a checkpoint key (<c>Mixed_5b.branch1x1.conv.weight</c> -> <c>blocks.2.0.branch1x1.conv.weight</c>);
    /// wrapper keys pass unchanged; null for the unused classifier <c>fc.*</c>.</summary>
    public static string? ToWrapperKey(string key)
    {
        int dot = key.IndexOf('.');
        if (dot < 0) return key;
        var head = key[..dot];
        if (head == "fc") return null;
        return WrapperOf.TryGetValue(head, out var w) ? w + key[dot..] : key;
    }

    /// <summary>The checkpoint key of a wrapper key (the inverse of <see cref="ToWrapperKey"/>).</summary>
    public static string ToCheckpointKey(string wrapperKey)
    {
        var parts = wrapperKey.Split('.', 4);
        if (parts.Length < 4 || parts[0] != "blocks" || !int.TryParse(parts[1], out int b) || !int.TryParse(parts[2], out int i)
            || b >= FidInceptionV3.CheckpointNames.Length || i >= FidInceptionV3.CheckpointNames[b].Length
            || FidInceptionV3.CheckpointNames[b][i] is not { } name)
            throw new ArgumentException($"'{wrapperKey}' is not a parameter key of the FID Inception wrapper");
        return name + "." + parts[3];
    }

    /// <summary>The FID network with the weights of <paramref name="path"/> (either naming), in eval mode.</summary>
    public static FidInceptionV3 Load(string path, Device? device = null)
    {
        var model = new FidInceptionV3();
        try
        {
            EvaluationWeights.Load(model, path, ToWrapperKey, "FID Inception-v3");
            if (device is not null) model.to(device);
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    /// <summary>The FID network with the seeded random weights of <see cref="EvaluationWeights.Randomize"/>.</summary>
    public static FidInceptionV3 Random(long seed = 0, Device? device = null)
    {
        var model = new FidInceptionV3();
        EvaluationWeights.Randomize(model, seed);
        if (device is not null) model.to(device);
        return model;
    }
}
