using AptLab.Diffusion;

namespace AptLab.Avatar.Inference;

/// <summary>
/// OmniAvatar's classifier-free guidance (docs/omniavatar.md#sampling): 1, 2 or 3 DiT passes per step.
/// <list type="bullet">
/// <item>guidance_scale = 1: one pass, v = pos (audio CFG is off even when audio_scale is set);</item>
/// <item>audio_scale unset or equal to guidance_scale: 2 passes, v = neg + cfg·(pos − neg) with
/// neg = (negative text, zero audio) (<see cref="FlowMatch.Cfg"/>);</item>
/// <item>otherwise 3 passes: v = t_neg + cfg·(a_neg − t_neg) + acfg·(pos − a_neg), a_neg = (text, zero audio),
/// t_neg = (negative text, zero audio).</item>
/// </list>
/// "Zero audio" is the all-zero feature tensor through the full audio path (a non-zero injection).
/// </summary>
public static class AvatarGuidance
{
    /// <summary>DiT passes per step for these scales.</summary>
    public static int Passes(double guidanceScale, double? audioScale)
    {
        if (guidanceScale == 1) return 1;
        return (audioScale ?? guidanceScale) == guidanceScale ? 2 : 3;
    }

    /// <summary>The 3-pass combination <c>t_neg + cfg (a_neg − t_neg) + acfg (pos − a_neg)</c>.</summary>
    public static Tensor Combine3(Tensor pos, Tensor audioNeg, Tensor textNeg, double cfg, double audioCfg)
    {
        using var scope = torch.NewScope();
        return scope.Keep(textNeg + (audioNeg - textNeg) * cfg + (pos - audioNeg) * audioCfg);
    }
}
