using AptLab.Training;

namespace AptLab.Avatar.Training;

/// <summary>Hyper-parameters of <see cref="OmniAvatarTrainer"/> (docs/omniavatar.md#training: AdamW over LoRA + audio modules
/// + patch embedding; OmniAvatar's own values are unknown, DiffSynth's trainers use lr 1e-5 / 1e-4 and batch 1). The
/// optimisation keys are the shared <see cref="FineTuneSettings"/>.</summary>
public sealed record AvatarTrainerSettings : FineTuneSettings
{
    /// <summary>Clean prefix latent frames per sample, drawn uniformly from [min, max] (1 = only the reference frame,
    /// inference's first chunk; 4 = a later chunk's 13-frame overlap).</summary>
    public int MinPrefixFrames { get; init; } = 1;
    public int MaxPrefixFrames { get; init; } = 1;
    public bool LossOnPrefixFrames { get; init; }
    public bool ZeroReferenceAudio { get; init; } = true;
    /// <summary>Probability of training a sample on zero audio (for audio classifier-free guidance; upstream value unknown).</summary>
    public double AudioDropout { get; init; }
    public int NumTrainTimesteps { get; init; } = 1000;

    public AvatarTrainerSettings Validate()
    {
        ValidateShared();
        void Fail(string key, string why) => throw new ArgumentException($"AvatarTrainerSettings.{key}: {why}");
        if (MinPrefixFrames < 1 || MaxPrefixFrames < MinPrefixFrames) Fail("PrefixFrames", $"need 1 <= min <= max, got [{MinPrefixFrames}, {MaxPrefixFrames}]");
        if (!double.IsFinite(AudioDropout)) Fail(nameof(AudioDropout), $"must be a finite number, got {AudioDropout}");
        if (!(AudioDropout >= 0 && AudioDropout < 1)) Fail(nameof(AudioDropout), $"must lie in [0, 1), got {AudioDropout}");
        if (NumTrainTimesteps < 2) Fail(nameof(NumTrainTimesteps), $"must be >= 2, got {NumTrainTimesteps}");
        return this;
    }
}
