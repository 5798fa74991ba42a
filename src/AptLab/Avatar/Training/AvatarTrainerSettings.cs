namespace AptLab.Avatar.Training;

/// <summary>Hyper-parameters of <see cref="OmniAvatarTrainer"/> (docs/omniavatar.md#training: AdamW over LoRA + audio modules
/// + patch embedding; OmniAvatar's own values are unknown, DiffSynth's trainers use lr 1e-5 / 1e-4 and batch 1).</summary>
public sealed record AvatarTrainerSettings
{
    public double Lr { get; init; } = 1e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 1e-2;
    /// <summary>Linear warmup from 0 over this many optimizer steps (0: none).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Clip the global gradient norm to this value (0: no clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Samples per micro-batch on each rank.</summary>
    public int MicroBatch { get; init; } = 1;
    /// <summary>Micro-batches accumulated per optimizer step.</summary>
    public int Accumulation { get; init; } = 1;
    /// <summary>Recompute each DiT block in backward (docs/omniavatar.md#training).</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>Clean prefix latent frames per sample, drawn uniformly from [min, max] (1 = only the reference frame,
    /// inference's first chunk; 4 = a later chunk's 13-frame overlap).</summary>
    public int MinPrefixFrames { get; init; } = 1;
    public int MaxPrefixFrames { get; init; } = 1;
    public bool LossOnPrefixFrames { get; init; }
    public bool ZeroReferenceAudio { get; init; } = true;
    /// <summary>Probability of training a sample on zero audio (for audio classifier-free guidance; upstream value unknown).</summary>
    public double AudioDropout { get; init; }
    public int NumTrainTimesteps { get; init; } = 1000;
    public double Shift { get; init; } = 5.0;

    public AvatarTrainerSettings Validate()
    {
        void Fail(string key, string why) => throw new ArgumentException($"AvatarTrainerSettings.{key}: {why}");
        foreach (var (key, v) in new[] { (nameof(Lr), Lr), (nameof(Beta1), Beta1), (nameof(Beta2), Beta2), (nameof(Eps), Eps), (nameof(WeightDecay), WeightDecay),
                     (nameof(MaxGradNorm), MaxGradNorm), (nameof(AudioDropout), AudioDropout), (nameof(Shift), Shift) })
            if (!double.IsFinite(v)) Fail(key, $"must be a finite number, got {v}");
        if (!(Lr > 0)) Fail(nameof(Lr), $"must be positive, got {Lr}");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) Fail("Betas", $"must lie in [0, 1), got ({Beta1}, {Beta2})");
        if (!(Eps > 0)) Fail(nameof(Eps), $"must be positive, got {Eps}");
        if (!(WeightDecay >= 0)) Fail(nameof(WeightDecay), $"must be >= 0, got {WeightDecay}");
        if (WarmupSteps < 0) Fail(nameof(WarmupSteps), $"must be >= 0, got {WarmupSteps}");
        if (!(MaxGradNorm >= 0)) Fail(nameof(MaxGradNorm), $"must be >= 0, got {MaxGradNorm}");
        if (MicroBatch < 1) Fail(nameof(MicroBatch), $"must be >= 1, got {MicroBatch}");
        if (Accumulation < 1) Fail(nameof(Accumulation), $"must be >= 1, got {Accumulation}");
        if (MinPrefixFrames < 1 || MaxPrefixFrames < MinPrefixFrames) Fail("PrefixFrames", $"need 1 <= min <= max, got [{MinPrefixFrames}, {MaxPrefixFrames}]");
        if (!(AudioDropout >= 0 && AudioDropout < 1)) Fail(nameof(AudioDropout), $"must lie in [0, 1), got {AudioDropout}");
        if (NumTrainTimesteps < 2) Fail(nameof(NumTrainTimesteps), $"must be >= 2, got {NumTrainTimesteps}");
        if (!(Shift > 0)) Fail(nameof(Shift), $"must be positive, got {Shift}");
        return this;
    }
}
