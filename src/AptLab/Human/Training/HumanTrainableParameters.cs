using AptLab.Torch.nn;

namespace AptLab.Human.Training;

/// <summary>
/// What an OmniHuman fine-tune trains (docs/omnihuman.md#training). <c>lora</c>: the LoRA adapters on Wan's linear
/// layers, every part OmniHuman adds (<see cref="OmniHumanWeights.IsAdded"/>) and the whole patch embedding (its pose
/// channels are new); the Wan base is frozen. <c>full</c>: every parameter.
/// </summary>
public static class HumanTrainableParameters
{
    public static bool IsTrainable(string name, string mode) =>
        mode == "full" || Lora.IsLoraKey(name) || OmniHumanWeights.IsAdded(name) || name.StartsWith("patch_embedding.", StringComparison.Ordinal);

    /// <summary>Sets requires_grad on every parameter (true exactly for the trainable set) and returns the trainable ones
    /// in registration order. <c>lora</c> without injected adapters is an error.</summary>
    public static List<(string name, Parameter parameter)> Apply(OmniHumanModel model, string mode)
    {
        var trainable = new List<(string, Parameter)>();
        foreach (var (name, p) in model.named_parameters())
        {
            bool on = IsTrainable(name, mode);
            p.requires_grad = on;
            if (on) trainable.Add((name, p));
        }
        if (mode == "lora" && !trainable.Any(t => Lora.IsLoraKey(t.Item1)))
            throw new InvalidOperationException("OmniHumanModel: train: lora, but no LoRA adapter is injected (Lora.Inject(model.wan, ...))");
        return trainable;
    }

    /// <summary>The group of a trainable tensor for gradient-norm logging: lora, audio, pose, patch_embedding or base.</summary>
    public static string Group(string name) =>
        Lora.IsLoraKey(name) ? "lora"
        : name.StartsWith("audio", StringComparison.Ordinal) ? "audio"
        : name.StartsWith("pose_guider.", StringComparison.Ordinal) ? "pose"
        : name.StartsWith("patch_embedding.", StringComparison.Ordinal) ? "patch_embedding" : "base";
}
