namespace AptLab.Apt;

/// <summary>Settings of one adversarial phase (docs/apt.md#phases; image and video phases differ).</summary>
public sealed record AptPhaseSettings
{
    public string Name { get; init; } = "image";
    /// <summary>Generator updates (each preceded by one discriminator update).</summary>
    public int Updates { get; init; } = 350;
    /// <summary>Samples per micro-batch; the effective batch is MicroBatch x Accumulation (x world size).</summary>
    public int MicroBatch { get; init; } = 4;
    public int Accumulation { get; init; } = 1;
    /// <summary>One learning rate for G and D (APT uses the same for both); sets <see cref="LrGenerator"/> and
    /// <see cref="LrDiscriminator"/>, which may follow to set them apart. Declared before them so that a config
    /// written back (lr, lr_generator, lr_discriminator in this order) reloads to the same values.</summary>
    public double Lr { get => LrGenerator; init { LrGenerator = value; LrDiscriminator = value; } }
    public double LrGenerator { get; init; } = 5e-6;
    public double LrDiscriminator { get; init; } = 5e-6;
    /// <summary>RMSprop smoothing (APT: 0.9, i.e. Adam with beta1 = 0, beta2 = 0.9); eps 1e-8.</summary>
    public double RmsAlpha { get; init; } = 0.9;
    public double RmsEps { get; init; } = 1e-8;
    public double EmaDecay { get; init; } = 0.995;
    /// <summary>Discriminator timestep shift s: t = shift(u, s), u ~ U(0, 1) (1 for images, 12 for video).</summary>
    public double DiscriminatorShift { get; init; } = 1;
    public double R1Lambda { get; init; } = 100;
    /// <summary>sigma of the approximated R1 (0.01 images, 0.1 videos); see <see cref="R1Reading"/>.</summary>
    public double R1Sigma { get; init; } = 0.01;
    public R1NoiseReading R1Reading { get; init; } = R1NoiseReading.Variance;
    /// <summary>Approximated R2 on fake samples (AAPT); 0 switches it off.</summary>
    public double R2Lambda { get; init; } = 0;
    public double R2Sigma { get; init; } = 0.1;
    /// <summary>Write a checkpoint every this many generator updates (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 50;
    public int LogEvery { get; init; } = 1;

    public void Validate()
    {
        // NaN fails every comparison and +inf passes "> 0": each number must be finite first (settings built in code
        // do not pass the YAML loader's check)
        foreach (var (key, v) in new[] { ("lr_generator", LrGenerator), ("lr_discriminator", LrDiscriminator), ("rms_alpha", RmsAlpha), ("rms_eps", RmsEps),
                     ("ema_decay", EmaDecay), ("discriminator_shift", DiscriminatorShift), ("r1_lambda", R1Lambda), ("r1_sigma", R1Sigma),
                     ("r2_lambda", R2Lambda), ("r2_sigma", R2Sigma) })
            if (!double.IsFinite(v)) throw new ArgumentException($"apt.{Name}.{key} must be a finite number, got {v}");
        if (!(RmsEps > 0)) throw new ArgumentException($"apt.{Name}.rms_eps must be > 0");
        if (R2Lambda < 0 || R2Sigma < 0) throw new ArgumentException($"apt.{Name}: r2_lambda and r2_sigma must be >= 0");
        if (Updates < 1) throw new ArgumentException($"apt.{Name}.updates must be >= 1 (got {Updates})");
        if (MicroBatch < 1 || Accumulation < 1) throw new ArgumentException($"apt.{Name}: micro_batch and accumulation must be >= 1");
        if (DiscriminatorShift <= 0) throw new ArgumentException($"apt.{Name}.discriminator_shift must be > 0");
        if (R1Lambda < 0 || R1Sigma < 0) throw new ArgumentException($"apt.{Name}: r1_lambda and r1_sigma must be >= 0");
        if (EmaDecay < 0 || EmaDecay >= 1) throw new ArgumentException($"apt.{Name}.ema_decay must be in [0, 1)");
        if (!(LrGenerator > 0) || !(LrDiscriminator > 0)) throw new ArgumentException($"apt.{Name}: lr_generator and lr_discriminator must be > 0");
        if (RmsAlpha <= 0 || RmsAlpha >= 1) throw new ArgumentException($"apt.{Name}.rms_alpha must be in (0, 1)");
        if (CheckpointEvery < 1) throw new ArgumentException($"apt.{Name}.checkpoint_every must be >= 1");
    }
}
