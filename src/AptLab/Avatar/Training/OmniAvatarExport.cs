using System.Text.Json;
using AptLab.Torch.IO;
using AptLab.Torch.nn;

namespace AptLab.Avatar.Training;

/// <summary>
/// Writes trained weights in the released OmniAvatar layout (docs/omniavatar.md#checkpoints): <c>pytorch_model.pt</c> (torch.save
/// zip, a flat dict with the DiT-relative upstream names <c>blocks.N.self_attn.q.lora_A.default.weight</c>,
/// <c>patch_embedding.weight</c>, <c>audio_proj.proj.weight</c>, <c>audio_cond_projs.J.weight</c>, …) and the
/// <c>config.json</c> inference.py merges (<c>reload_cfg</c>): LoRA rank/alpha/targets, <c>model_config</c>.
/// <see cref="OmniAvatarWeights.LoadOmniAvatar(OmniAvatarModel, string, Lora?)"/> and <c>aptlab avatar</c> (exp_path =
/// the folder) load it back.
/// </summary>
public static class OmniAvatarExport
{
    public const string WeightsFile = "pytorch_model.pt";
    public const string ConfigFile = "config.json";

    /// <summary>The exported tensors (unmerged LoRA, audio modules, patch embedding): detached copies in
    /// <paramref name="dtype"/> (default: the model's, <see cref="OmniAvatarModel.Dtype"/>, that of the frozen base) of
    /// <paramref name="trained"/> (a trainer's float32 masters, <see cref="OmniAvatarTrainer.TrainedWeights"/>) or of the
    /// model's own weights. A bf16 model trained with float32 masters is therefore exported in bf16, as the released
    /// OmniAvatar weights are; the trainer's own checkpoints keep the float32 values for resuming.</summary>
    public static Dictionary<string, Tensor> StateDict(OmniAvatarModel model, Lora lora, IReadOnlyDictionary<string, Tensor>? trained = null,
        ScalarType? dtype = null)
    {
        if (lora.Merged) throw new InvalidOperationException("OmniAvatarExport: unmerge the LoRA adapters first (the file holds the unmerged A/B and the base weights stay Wan's)");
        var dt = dtype ?? model.Dtype;
        var source = trained ?? model.state_dict();
        var keys = model.state_dict().Keys.Where(OmniAvatarWeights.IsTrainedKey).ToList();
        var missing = keys.Where(k => !source.ContainsKey(k)).ToList();
        if (missing.Count > 0) throw new ArgumentException($"OmniAvatarExport: trained tensors missing: {string.Join(", ", missing.Take(8))}");
        return keys.ToDictionary(k => k, k => Copy(source[k], dt));
    }

    private static Tensor Copy(Tensor t, ScalarType dtype)
    {
        using var d = t.detach();
        return (d.dtype == dtype ? d.clone() : d.to(dtype)).DetachFromScope();
    }

    /// <summary>Writes <c>pytorch_model.pt</c> and <c>config.json</c> into <paramref name="directory"/> (atomically each)
    /// and returns the weights' path.</summary>
    /// <param name="trained">the trained tensors (default: the model's own weights)</param>
    /// <param name="dtype">the dtype written (default: the model's)</param>
    public static string Save(OmniAvatarModel model, Lora lora, string directory, IReadOnlyDictionary<string, Tensor>? trained = null,
        ScalarType? dtype = null)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, WeightsFile);
        var state = StateDict(model, lora, trained, dtype);
        try
        {
            Finite.CheckAll(state, $"refusing to write {path}");                    // a diverged model is never exported
            PthWriter.Save(path, state);
        }
        finally { foreach (var t in state.Values) t.Dispose(); }
        var c = lora.Config;
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_config"] = new Dictionary<string, int> { ["in_dim"] = model.config.Wan.InDim, ["audio_hidden_size"] = model.config.AudioHiddenSize },
            ["train_architecture"] = "lora",
            ["lora_rank"] = c.Rank,
            ["lora_alpha"] = c.Alpha,
            ["lora_target_modules"] = string.Join(",", c.Targets),
            ["init_lora_weights"] = c.InitLoraWeights,
            ["use_audio"] = true,
            ["i2v"] = true,
            ["random_prefix_frames"] = true,
        }, new JsonSerializerOptions { WriteIndented = true });
        AptLab.Training.RunDirectory.WriteAtomic(Path.Combine(directory, ConfigFile), json);
        return path;
    }
}
