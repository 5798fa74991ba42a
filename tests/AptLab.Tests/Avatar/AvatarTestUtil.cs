using AptLab.Avatar;
using AptLab.Wan;
using AptLab.Torch.IO;

namespace AptLab.Tests.Avatar;

internal static class AvatarTestUtil
{
    /// <summary>The omniavatar_dit case's model: its config (dim, heads, layers, audio_hidden_size, ...) from the JSON, the
    /// context rows and the audio feature width from the stored inputs (OmniAvatar's DiT takes the context as given).</summary>
    public static OmniAvatarConfig CaseConfig(ReferenceCase rc)
    {
        var c = rc.Config;
        var patch = c.GetProperty("patch_size").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.False(c.GetProperty("has_image_input").GetBoolean());
        return new OmniAvatarConfig
        {
            Wan = new WanConfig
            {
                ModelType = "t2v", InDim = c.GetProperty("in_dim").GetInt32(), Dim = c.GetProperty("dim").GetInt32(),
                FfnDim = c.GetProperty("ffn_dim").GetInt32(), FreqDim = c.GetProperty("freq_dim").GetInt32(),
                TextDim = c.GetProperty("text_dim").GetInt32(), OutDim = c.GetProperty("out_dim").GetInt32(),
                NumHeads = c.GetProperty("num_heads").GetInt32(), NumLayers = c.GetProperty("num_layers").GetInt32(),
                TextLen = (int)rc.Io["context"].size(1), Eps = c.GetProperty("eps").GetDouble(),
                PatchSize = (patch[0], patch[1], patch[2]),
            },
            AudioInDim = (int)rc.Io["audio_emb"].size(-1),
            AudioHiddenSize = c.GetProperty("audio_hidden_size").GetInt32(),
            AudioPatchT = int.Parse(ReferenceCase.Parse(string.Join(" ", rc.Json.GetProperty("audio_path").EnumerateArray().Select(e => e.GetString())),
                @"patch \[(\d+),\s*1,\s*1\]")[0]),
        };
    }

    /// <summary>A tiny model for the semantic tests: dim 32, 1 head (head_dim 32), 7 layers (audio into blocks 2 and 3:
    /// the odd count exercises the floor of L/2), audio rows of 24 features, audio width 12.</summary>
    public static OmniAvatarConfig Tiny => new()
    {
        Wan = new WanConfig
        {
            ModelType = "t2v", InDim = 33, Dim = 32, FfnDim = 64, FreqDim = 16, TextDim = 12, OutDim = 16,
            NumHeads = 1, NumLayers = 7, TextLen = 8, Eps = 1e-6,
        },
        AudioInDim = 24,
        AudioHiddenSize = 12,
    };

    public static OmniAvatarModel LoadCaseModel(ReferenceCase rc)
    {
        var model = new OmniAvatarModel(CaseConfig(rc));
        using var sd = Checkpoint.Load(rc.WeightsPath);
        model.load_state_dict(sd, strict: true, source: rc.WeightsPath);
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
