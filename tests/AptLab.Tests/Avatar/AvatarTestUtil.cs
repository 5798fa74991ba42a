using AptLab.Avatar;
using AptLab.Wan;
using AptLab.Torch.IO;

namespace AptLab.Tests.Avatar;

internal static class AvatarTestUtil
{
    /// <summary>The omniavatar_dit case: dim 128, 1 head (head_dim 128), 6 layers, audio_hidden_size 8, 16 context rows.</summary>
    public static OmniAvatarConfig CaseConfig => new()
    {
        Wan = new WanConfig
        {
            ModelType = "t2v", InDim = 33, Dim = 128, FfnDim = 256, FreqDim = 64, TextDim = 32, OutDim = 16,
            NumHeads = 1, NumLayers = 6, TextLen = 16, Eps = 1e-6,
        },
        AudioInDim = 10752,
        AudioHiddenSize = 8,
    };

    /// <summary>A tiny model for the semantic tests: dim 32, 1 head (head_dim 32), 4 layers (audio into blocks 2),
    /// audio rows of 24 features.</summary>
    public static OmniAvatarConfig Tiny => new()
    {
        Wan = new WanConfig
        {
            ModelType = "t2v", InDim = 33, Dim = 32, FfnDim = 64, FreqDim = 16, TextDim = 12, OutDim = 16,
            NumHeads = 1, NumLayers = 6, TextLen = 8, Eps = 1e-6,
        },
        AudioInDim = 24,
        AudioHiddenSize = 8,
    };

    public static OmniAvatarModel LoadCaseModel()
    {
        var model = new OmniAvatarModel(CaseConfig);
        using var sd = Checkpoint.Load(TestPaths.ReferenceFile("omniavatar_dit.weights.safetensors"));
        model.load_state_dict(sd, strict: true, source: "omniavatar_dit.weights.safetensors");
        return model;
    }

    /// <summary>Every parameter drawn afresh (<see cref="Torch.nn.init.nontrivial_"/>; modulation N(0, 1/dim) with
    /// dim = <paramref name="dim"/>, the tables' last axis), so every path contributes.</summary>
    public static void Randomize(Torch.nn.Module model, ulong seed, int dim)
    {
        using var g = new Generator(seed);
        Torch.nn.init.nontrivial_(model, g);
    }
}
