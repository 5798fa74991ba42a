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

    /// <summary>
    /// DiffSynth's "upcast trainable params to fp32" (docs/omniavatar.md#training): every trainable parameter held in a 16-bit
    /// float dtype (bf16, fp16) gets float32 data in place (<see cref="Tensor.set_data"/>, PyTorch's <c>p.data =
    /// p.float()</c>), so it stays the same registered parameter while AdamW's small updates are no longer rounded away
    /// by bf16's 8-bit mantissa. The frozen base keeps its dtype; float32/float64 parameters are left alone. Call it
    /// before the optimizer (its state takes the parameters' dtype) and before any backward. Returns how many changed.
    /// </summary>
    public static int UpcastToFloat32(IEnumerable<(string name, Parameter parameter)> trainable)
    {
        using var _ = torch.no_grad();
        int n = 0;
        foreach (var (_, p) in trainable)
        {
            if (p.dtype is not (ScalarType.BFloat16 or ScalarType.Float16)) continue;
            if (p.grad is not null) throw new InvalidOperationException("UpcastToFloat32: call it before the first backward (a parameter already has a 16-bit gradient)");
            using var master = p.detach().to(ScalarType.Float32);
            p.set_data(master);
            n++;
        }
        return n;
    }

    /// <summary>The group a trainable tensor belongs to, for gradient-norm logging: lora, audio or patch_embedding.</summary>
    public static string Group(string name) =>
        Lora.IsLoraKey(name) ? "lora" : name.StartsWith("patch_embedding.", StringComparison.Ordinal) ? "patch_embedding" : "audio";
}
