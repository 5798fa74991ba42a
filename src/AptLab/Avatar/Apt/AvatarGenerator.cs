using System.Text.Json;
using System.Text.Json.Nodes;
using AptLab.Wan;
using AptLab.Torch.IO;

namespace AptLab.Avatar.Apt;

/// <summary>
/// The exported one-step OmniAvatar generator: one safetensors file with the merged (LoRA-free) weights under plain
/// OmniAvatar keys and, in its metadata, <c>omniavatar_config</c> = the DiT's config.json keys (Wan 2.1's) plus
/// <c>audio_in_dim</c>, <c>audio_hidden_size</c>, <c>audio_patch_t</c>, so it loads without the run's config. Use it with
/// <see cref="OneStepGenerator.Generate"/>: x = z - v(z, 1, c), one forward, no CFG.
/// </summary>
public static class AvatarGenerator
{
    public const string ConfigKey = "omniavatar_config";

    public static void Save(string path, OmniAvatarFlowModel model, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { [ConfigKey] = ConfigJson(model.Net.config) };
        AptLab.Training.Checkpoints.SaveFile(path, model.Net.state_dict(), meta);          // refuses non-finite weights
    }

    /// <summary>The generator of <paramref name="path"/> in eval mode (parameters in the file's dtype).</summary>
    public static OmniAvatarFlowModel Load(string path, Device? device = null)
    {
        using var sd = Checkpoint.Load(path);
        if (!sd.Metadata.TryGetValue(ConfigKey, out var json))
            throw new InvalidDataException($"{path}: no '{ConfigKey}' metadata: not an exported OmniAvatar generator (see AvatarGenerator.Save)");
        var cfg = ParseConfig(json, path);
        var dtype = sd["patch_embedding.weight"].dtype;
        var net = new OmniAvatarModel(cfg, dtype, device);
        try { net.load_state_dict(sd, strict: true, source: path); }
        catch { net.Dispose(); throw; }
        net.requires_grad_(false);
        net.eval();
        return new OmniAvatarFlowModel(net);
    }

    public static string ConfigJson(OmniAvatarConfig c)
    {
        var w = c.Wan;
        var o = new JsonObject
        {
            ["model_type"] = w.ModelType, ["patch_size"] = new JsonArray(w.PatchSize.T, w.PatchSize.H, w.PatchSize.W),
            ["text_len"] = w.TextLen, ["in_dim"] = w.InDim, ["dim"] = w.Dim, ["ffn_dim"] = w.FfnDim, ["freq_dim"] = w.FreqDim,
            ["text_dim"] = w.TextDim, ["out_dim"] = w.OutDim, ["num_heads"] = w.NumHeads, ["num_layers"] = w.NumLayers,
            ["window_size"] = new JsonArray(w.WindowSize.Left, w.WindowSize.Right), ["qk_norm"] = w.QkNorm,
            ["cross_attn_norm"] = w.CrossAttnNorm, ["eps"] = w.Eps, ["clip_dim"] = w.ClipDim,
            ["audio_in_dim"] = c.AudioInDim, ["audio_hidden_size"] = c.AudioHiddenSize, ["audio_patch_t"] = c.AudioPatchT,
        };
        return o.ToJsonString();
    }

    public static OmniAvatarConfig ParseConfig(string json, string source)
    {
        var o = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidDataException($"{source}: '{ConfigKey}' is not a JSON object");
        int Take(string key) => o.Remove(key, out var v) && v is not null ? v.GetValue<int>()
            : throw new InvalidDataException($"{source}: '{ConfigKey}' lacks '{key}'");
        var (audioIn, audioHidden, patchT) = (Take("audio_in_dim"), Take("audio_hidden_size"), Take("audio_patch_t"));
        using var doc = JsonDocument.Parse(o.ToJsonString());
        var wan = WanConfig.FromJson(doc.RootElement, $"{source} ({ConfigKey})");
        return new OmniAvatarConfig { Wan = wan, AudioInDim = audioIn, AudioHiddenSize = audioHidden, AudioPatchT = patchT }.Validate(source);
    }
}
