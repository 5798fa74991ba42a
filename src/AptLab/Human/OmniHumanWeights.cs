using System.Text.Json;
using System.Text.Json.Nodes;
using AptLab.Avatar;
using AptLab.Torch.IO;
using AptLab.Torch.nn;
using AptLab.Wan;

namespace AptLab.Human;

/// <summary>
/// OmniHuman weights (docs/omnihuman.md#checkpoints): a Wan 2.1 T2V checkpoint loaded into the widened model, and the
/// OmniHuman file: one safetensors with the full state dict under the model's keys (Wan's plus the added parts; any
/// LoRA folded in) and the architecture in the metadata (<see cref="ConfigKey"/>), so it loads without the run's config.
/// </summary>
public static class OmniHumanWeights
{
    public const string ConfigKey = "omnihuman_config";

    /// <summary>Prefixes of the parts OmniHuman adds to Wan's DiT (absent from a Wan checkpoint).</summary>
    public static readonly string[] AddedPrefixes = ["pose_guider.", "audio_proj.", "audio_slot_embedding", "audio_cross_attn."];

    public static bool IsAdded(string key) => AddedPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal));

    /// <summary>
    /// Loads Wan 2.1 T2V weights (one file, a sharded index, a folder or comma-separated shards) into
    /// <paramref name="model"/>: every Wan key as it is, <c>patch_embedding.weight</c> [dim, 16, 1, 2, 2] into the first 16
    /// input channels of the widened [dim, 16 + (2n+1) C_pose, 1, 2, 2] (the pose channels stay zero). Anything but the
    /// added parts missing, or a tensor of another shape, is an error naming the file.
    /// </summary>
    public static SmartLoadReport LoadWanBase(OmniHumanModel model, IReadOnlyList<string> paths)
    {
        var report = OmniAvatarWeights.LoadWanBase(model, paths);
        var missing = report.Missing.Where(k => !IsAdded(k) && !Lora.IsLoraKey(k)).ToList();
        var corner = report.CornerCopied.Where(k => k != "patch_embedding.weight").ToList();
        if (report.Skipped.Count > 0 || missing.Count > 0 || corner.Count > 0)
            throw new InvalidDataException($"{string.Join(", ", paths)}: not Wan 2.1 T2V weights of this size (dim {model.wanConfig.Dim}, {model.wanConfig.NumLayers} blocks): " +
                $"{report.Skipped.Count + corner.Count} tensors of other shapes ({string.Join(", ", report.Skipped.Concat(corner).Take(5))}), " +
                $"{missing.Count} missing ({string.Join(", ", missing.Take(5))})");
        model.ZeroPoseChannels();
        return report;
    }

    /// <summary>The state dict with every enabled, unmerged LoRA adapter folded into its base weight (W + scaling B A,
    /// float32) and no lora_ keys: the plain OmniHuman function the model computes. The values come from
    /// <paramref name="state"/> when given (a trainer's gathered weights: float32 masters beside the frozen base, whose
    /// module may hold no storage under fsdp), else from the module; <paramref name="dtype"/>: every tensor cast to it.</summary>
    public static Dictionary<string, Tensor> MergedStateDict(OmniHumanModel model, IReadOnlyDictionary<string, Tensor>? state = null, ScalarType? dtype = null)
    {
        var source = state ?? model.state_dict();
        var merged = source.Where(kv => !Lora.IsLoraKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        using var _ = torch.no_grad();
        foreach (var (name, m) in model.named_modules())
        {
            if (m is not Linear { adapter: LoraLinear a } || a.Merged || !a.Enabled) continue;
            var w = merged[name + ".weight"];
            var dt = w.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
            var delta = state is null ? a.DeltaWeight()
                : source[name + ".lora_B.default.weight"].to(dt).matmul(source[name + ".lora_A.default.weight"].to(dt)) * a.Scaling;
            merged[name + ".weight"] = (w.to(dt) + delta).to(w.dtype);
        }
        if (dtype is { } t)
            foreach (var k in merged.Keys.ToList())
                if (merged[k].dtype.IsFloatingPoint() && merged[k].dtype != t) merged[k] = merged[k].to(t);
        return merged;
    }

    /// <summary>Writes the OmniHuman file (atomically), LoRA folded in: the module's weights in the model's dtype, or
    /// <paramref name="state"/> (e.g. a trainer's gathered weights) in <paramref name="dtype"/> (default: as they are).</summary>
    public static void Save(string path, OmniHumanModel model, IReadOnlyDictionary<string, string>? metadata = null,
        IReadOnlyDictionary<string, Tensor>? state = null, ScalarType? dtype = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { [ConfigKey] = ConfigJson(model.config) };
        Safetensors.Save(path, MergedStateDict(model, state, dtype), meta);
    }

    /// <summary>The model of an OmniHuman file (parameters in the file's dtype unless <paramref name="dtype"/> is given), eval mode.</summary>
    public static OmniHumanModel Load(string path, Device? device = null, ScalarType? dtype = null)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"OmniHuman weights not found: {full}", full);
        using var sd = Checkpoint.Load(full);
        if (!sd.Metadata.TryGetValue(ConfigKey, out var json))
            throw new InvalidDataException($"{full}: no '{ConfigKey}' metadata: not an OmniHuman file (see OmniHumanWeights.Save)");
        var cfg = ParseConfig(json, full);
        var net = new OmniHumanModel(cfg, dtype ?? sd["patch_embedding.weight"].dtype, device);
        try { net.load_state_dict(sd, strict: true, source: full); }
        catch { net.Dispose(); throw; }
        net.eval();
        return net;
    }

    /// <summary>The architecture as JSON: Wan's config.json keys plus OmniHuman's.</summary>
    public static string ConfigJson(OmniHumanConfig c)
    {
        var w = c.Wan;
        var o = new JsonObject
        {
            ["model_type"] = w.ModelType, ["patch_size"] = new JsonArray(w.PatchSize.T, w.PatchSize.H, w.PatchSize.W),
            ["text_len"] = w.TextLen, ["in_dim"] = w.InDim, ["dim"] = w.Dim, ["ffn_dim"] = w.FfnDim, ["freq_dim"] = w.FreqDim,
            ["text_dim"] = w.TextDim, ["out_dim"] = w.OutDim, ["num_heads"] = w.NumHeads, ["num_layers"] = w.NumLayers,
            ["window_size"] = new JsonArray(w.WindowSize.Left, w.WindowSize.Right), ["qk_norm"] = w.QkNorm,
            ["cross_attn_norm"] = w.CrossAttnNorm, ["eps"] = w.Eps,
            ["audio_in_dim"] = c.AudioInDim, ["audio_window"] = c.AudioWindow, ["vae_temporal"] = c.VaeTemporal,
            ["vae_spatial"] = c.VaeSpatial, ["pose_heatmap_channels"] = c.PoseHeatmapChannels, ["pose_channels"] = c.PoseChannels,
            ["pose_neighbours"] = c.PoseNeighbours, ["pose_guider_widths"] = new JsonArray(c.PoseGuiderWidths.Select(v => (JsonNode)v).ToArray()),
            ["motion_frames"] = c.MotionFrames,
        };
        return o.ToJsonString();
    }

    public static OmniHumanConfig ParseConfig(string json, string source)
    {
        JsonObject o;
        try { o = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidDataException($"{source}: '{ConfigKey}' is not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: '{ConfigKey}' is not valid JSON ({e.Message})"); }
        JsonNode Take(string key) => o.Remove(key, out var v) && v is not null ? v : throw new InvalidDataException($"{source}: '{ConfigKey}' lacks '{key}'");
        try
        {
            var c = new OmniHumanConfig
            {
                AudioInDim = Take("audio_in_dim").GetValue<int>(), AudioWindow = Take("audio_window").GetValue<int>(),
                VaeTemporal = Take("vae_temporal").GetValue<int>(), VaeSpatial = Take("vae_spatial").GetValue<int>(),
                PoseHeatmapChannels = Take("pose_heatmap_channels").GetValue<int>(), PoseChannels = Take("pose_channels").GetValue<int>(),
                PoseNeighbours = Take("pose_neighbours").GetValue<int>(),
                PoseGuiderWidths = Take("pose_guider_widths").AsArray().Select(v => v!.GetValue<int>()).ToArray(),
                MotionFrames = Take("motion_frames").GetValue<int>(),
            };
            using var doc = JsonDocument.Parse(o.ToJsonString());
            return (c with { Wan = WanConfig.FromJson(doc.RootElement, $"{source} ({ConfigKey})") }).Validate(source);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{source}: '{ConfigKey}': {e.Message}");
        }
    }
}
