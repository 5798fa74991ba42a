namespace AptLab.Experiments;

/// <summary>
/// The offsets added to the run's <c>seed</c> for each random stream of an experiment, in one place: every stream has
/// its own generator, so changing one stage's draws never shifts another's, and a resumed run re-creates each stream
/// from (seed + offset) alone. Values are those the studies have always used (the recorded results depend on them);
/// <see cref="TwoStepNoise"/> was 77 like <see cref="DiscriminatorHeadsImage"/> until the two were told apart.
/// </summary>
public static class Seeds
{
    // ---- the demo study's data and stages ----
    /// <summary>MovingShapes clips (the images use the seed itself).</summary>
    public const ulong Clips = 1;
    /// <summary>The VAE stage's batches and noise.</summary>
    public const ulong Vae = 11;
    /// <summary>The teacher stage's batches, sigmas, noise and caption dropout.</summary>
    public const ulong Teacher = 22;
    /// <summary>Consistency distillation: batches, steps n and noise (every kind's CD).</summary>
    public const ulong Distill = 33;
    /// <summary>The APT phases' per-update generators (<see cref="Apt.AptTrainer"/>), image and video phase.</summary>
    public const ulong AptImage = 44, AptVideo = 55;
    /// <summary>The fresh discriminator read-out heads of the video and image phase.</summary>
    public const ulong DiscriminatorHeadsVideo = 66, DiscriminatorHeadsImage = 77;
    /// <summary>The comparison's noise for images and clips (the same for every method).</summary>
    public const ulong CompareImages = 88, CompareClips = 99;
    /// <summary>The second noise of two-step sampling in the comparison.</summary>
    public const ulong TwoStepNoise = 78;
    /// <summary>The fixed noise of the training-time sample sheets (<see cref="SamplePreview"/>), images and clips.</summary>
    public const ulong PreviewImages = 121, PreviewClips = 122;

    // ---- the apt-omniavatar and omniavatar-finetune kinds ----
    /// <summary>The random training samples of a random_weights apt-omniavatar run.</summary>
    public const ulong RandomAvatarSamples = 1;
    /// <summary>The tiny random umT5 that encodes the negative prompt of a random_weights run.</summary>
    public const ulong TinyTextEncoder = 7;
    /// <summary>The tiny random encoders (umT5, ...) of a random_weights fine-tuning run.</summary>
    public const ulong TinyEncoders = 17;

    // ---- the apt-wan kind ----
    /// <summary>The random DiT, latent caches (+1, +2) and negative context (+3) of a random_weights apt-wan run.</summary>
    public const ulong RandomWanInputs = 111;

    // ---- the omnihuman and apt-omnihuman kinds ----
    /// <summary>The OmniHuman trainer's conditions, clips, noise levels and noise.</summary>
    public const ulong HumanTrainer = 23;
    /// <summary>The study's evaluation noise (added to each evaluation seed).</summary>
    public const ulong HumanEval = 89;
    /// <summary>Held-out talking faces start at this index (training clips are 0 ..); the two real sets for the Fréchet
    /// distance follow at + 1e6 and + 2e6.</summary>
    public const long HumanHeldout = 1_000_000;
}
