using AptLab.Torch.nn;

namespace AptLab.Avatar.Training;

/// <summary>
/// What OmniAvatar trains (docs/omniavatar.md#training): the LoRA adapters (<c>*.lora_A.default.weight</c>,
/// <c>*.lora_B.default.weight</c>), the audio modules (<c>audio_proj.*</c>, <c>audio_cond_projs.*</c>) and the whole
/// <c>patch_embedding</c> (weight and bias). Everything else (the Wan base weights, the text, VAE and audio encoders)
/// is frozen. These are exactly the tensors of <c>pytorch_model.pt</c> (<see cref="OmniAvatarWeights.IsTrainedKey"/>).
/// </summary>
public static class AvatarTrainableParameters
{
    public static bool IsTrainable(string name) => OmniAvatarWeights.IsTrainedKey(name);

    /// <summary>Sets requires_grad on every parameter of <paramref name="model"/> (true exactly for the trainable set)
    /// and returns the trainable ones in registration order. Throws when there are none (LoRA not injected and no
    /// audio branch would be a wrong model).</summary>
    public static List<(string name, Parameter parameter)> Apply(Module model)
    {
        var trainable = new List<(string, Parameter)>();
        foreach (var (name, p) in model.named_parameters())
        {
            bool on = IsTrainable(name);
            p.requires_grad = on;
            if (on) trainable.Add((name, p));
        }
        if (!trainable.Any(t => Lora.IsLoraKey(t.Item1)))
            throw new InvalidOperationException($"{model.GetType().Name}: no LoRA parameters to train (inject LoRA before building the trainer)");
        return trainable;
    }

    /// <summary>The group a trainable tensor belongs to, for gradient-norm logging: lora, audio or patch_embedding.</summary>
    public static string Group(string name) =>
        Lora.IsLoraKey(name) ? "lora" : name.StartsWith("patch_embedding.", StringComparison.Ordinal) ? "patch_embedding" : "audio";
}
