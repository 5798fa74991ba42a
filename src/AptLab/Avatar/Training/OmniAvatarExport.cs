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

    /// <summary>The exported tensors (unmerged LoRA, audio modules, patch embedding): detached copies in the model's
    /// dtype (<see cref="OmniAvatarModel.Dtype"/>, that of the frozen base). A bf16 model trained with float32 master
    /// copies (<see cref="OmniAvatarTrainer"/>) is therefore exported in bf16, as the released OmniAvatar weights are;
    /// the trainer's own checkpoints keep the float32 values for resuming.</summary>
    public static Dictionary<string, Tensor> StateDict(OmniAvatarModel model, Lora lora)
    {
        if (lora.Merged) throw new InvalidOperationException("OmniAvatarExport: unmerge the LoRA adapters first (the file holds the unmerged A/B and the base weights stay Wan's)");
        var dtype = model.Dtype;
        return model.state_dict().Where(kv => OmniAvatarWeights.IsTrainedKey(kv.Key))
            .ToDictionary(kv => kv.Key, kv => Copy(kv.Value, dtype));
    }

    private static Tensor Copy(Tensor t, ScalarType dtype)
    {
        using var d = t.detach();
        return (d.dtype == dtype ? d.clone() : d.to(dtype)).DetachFromScope();
    }

    /// <summary>Writes <c>pytorch_model.pt</c> and <c>config.json</c> into <paramref name="directory"/> (atomically each)
    /// and returns the weights' path.</summary>
    public static string Save(OmniAvatarModel model, Lora lora, string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, WeightsFile);
        var state = StateDict(model, lora);
        try { PthWriter.Save(path, state); }
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
