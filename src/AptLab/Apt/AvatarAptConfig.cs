using AptLab.Config;
using AptLab.Diffusion.Avatar;
using AptLab.Models.Avatar;

namespace AptLab.Apt;

/// <summary>
/// The YAML of APT with an OmniAvatar teacher (configs/apt-omniavatar-1.3b.yaml): the teacher's weights (Wan base +
/// OmniAvatar LoRA/audio checkpoint), the encoded training data (a <see cref="Data.LatentCache"/> folder), consistency
/// distillation and the two adversarial phases (apt.md 11.4 adapted to OmniAvatar). Paths are relative to the working
/// directory, as in OmniAvatar's configs.
/// </summary>
public sealed class AvatarAptConfig : IValidatable
{
    public string Experiment { get; set; } = "apt-omniavatar";
    public string Name { get; set; } = "apt-omniavatar";
    public ulong Seed { get; set; } = 42;
    public string Device { get; set; } = "cpu";
    /// <summary>Parameter dtype of teacher, student and discriminator: bf16 (as upstream), fp16 or fp32.</summary>
    public string Dtype { get; set; } = "bf16";
    public string Results { get; set; } = "results";
    public AvatarAptModelConfig Model { get; set; } = new();
    public AvatarAptDataConfig Data { get; set; } = new();
    public AvatarAptDistillConfig Distill { get; set; } = new();
    public AvatarAptPhasesConfig Apt { get; set; } = new();

    public ScalarType ModelDtype => Dtype switch
    {
        "bf16" => ScalarType.BFloat16, "fp16" => ScalarType.Float16, _ => ScalarType.Float32,
    };

    public void Validate(string key, string? file)
    {
        if (Experiment != "apt-omniavatar") throw ConfigException.For(file, "experiment", $"'{Experiment}' must be apt-omniavatar for this config type");
        if (string.IsNullOrWhiteSpace(Name)) throw ConfigException.For(file, "name", "must not be empty");
        if (Dtype is not ("bf16" or "fp16" or "fp32")) throw ConfigException.For(file, "dtype", $"'{Dtype}' must be bf16, fp16 or fp32");
        try { AptLab.Torch.Device.Parse(Device); }
        catch (ArgumentException e) { throw ConfigException.For(file, "device", e.Message); }
        if (Apt.HeadLayers.Any(l => l < 0 || l >= Model.Architecture.Wan.NumLayers))
            throw ConfigException.For(file, "apt.head_layers", $"[{string.Join(", ", Apt.HeadLayers)}] must lie in 0..{Model.Architecture.Wan.NumLayers - 1} ({Model.Preset})");
    }
}

/// <summary>The teacher: OmniAvatar's DiT built from the Wan 2.1 T2V weights and the OmniAvatar checkpoint
/// (omniavatar.md 6.3, 7.4), its LoRA merged.</summary>
public sealed class AvatarAptModelConfig : IValidatable
{
    /// <summary>Architecture: omniavatar-1.3b (Wan 1.3B: 30 blocks, dim 1536) or omniavatar-14b.</summary>
    public string Preset { get; set; } = "omniavatar-1.3b";
    /// <summary>Wan 2.1 T2V DiT safetensors (one file or comma-separated shards).</summary>
    public string DitPath { get; set; } = "";
    /// <summary>Folder holding OmniAvatar's pytorch_model.pt (LoRA + audio + patch embedding).</summary>
    public string ExpPath { get; set; } = "";
    public int LoraRank { get; set; } = 128;
    public double LoraAlpha { get; set; } = 64;
    public string LoraTargetModules { get; set; } = "q,k,v,o,ffn.0,ffn.2";
    public int AudioHiddenSize { get; set; } = 32;
    /// <summary>Width of one wav2vec2 feature row (14 x 768 for wav2vec2-base).</summary>
    public int AudioInDim { get; set; } = 10752;
    /// <summary>Per-block activation checkpointing of the student and the discriminator.</summary>
    public bool GradientCheckpointing { get; set; } = true;
    /// <summary>Optional generator weights (e.g. the consistency-distilled student, a plain OmniAvatar state dict);
    /// empty: the student starts as a copy of the teacher.</summary>
    public string StudentInit { get; set; } = "";

    public OmniAvatarConfig Architecture => (Preset switch
    {
        "omniavatar-14b" => OmniAvatarConfig.OmniAvatar_14B,
        _ => OmniAvatarConfig.OmniAvatar_1_3B,
    }) with { AudioHiddenSize = AudioHiddenSize, AudioInDim = AudioInDim };

    public LoraConfig Lora => new(LoraRank, LoraAlpha, LoraConfig.ParseTargets(LoraTargetModules));

    public void Validate(string key, string? file)
    {
        if (Preset is not ("omniavatar-1.3b" or "omniavatar-14b")) throw ConfigException.For(file, key + ".preset", $"'{Preset}' must be omniavatar-1.3b or omniavatar-14b");
        try { Lora.Validate(); Architecture.Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message); }
    }
}

/// <summary>Encoded samples (LatentCache tensors "latents" [16, F, h, w], "ref_latents" [16, 1, h, w], "audio"
/// [4F - 3, audio_in_dim], "context" [Lt, 4096]); the negative prompt of the teacher's CFG.</summary>
public sealed class AvatarAptDataConfig : IValidatable
{
    public string Cache { get; set; } = "";
    /// <summary>Latent frames of the video phase (13 = 49 video frames, APT's clip length).</summary>
    public int VideoLatentFrames { get; set; } = 13;
    /// <summary>Leading latent frames marked known (mask 0) in y for the video phase (OmniAvatar's first chunk: 1).</summary>
    public int KnownFrames { get; set; } = 1;
    public string NegativePrompt { get; set; } = AvatarDefaults.NegativePrompt;
    /// <summary>umT5 weights and tokenizer for encoding the negative prompt once.</summary>
    public string TextEncoderPath { get; set; } = "";
    public string TokenizerPath { get; set; } = "";

    public void Validate(string key, string? file)
    {
        if (VideoLatentFrames < 1) throw ConfigException.For(file, key + ".video_latent_frames", "must be >= 1");
        if (KnownFrames < 0 || KnownFrames >= VideoLatentFrames) throw ConfigException.For(file, key + ".known_frames", $"must be in [0, video_latent_frames {VideoLatentFrames})");
    }
}

/// <summary>Consistency distillation from the OmniAvatar teacher (apt.md 4.3, 11.4); guidance is OmniAvatar's
/// joint text + audio CFG (<see cref="OmniAvatarFlowModel"/>).</summary>
public sealed class AvatarAptDistillConfig : IValidatable
{
    public int Steps { get; set; } = 5000;
    public int Batch { get; set; } = 1;
    public double Lr { get; set; } = 1e-5;
    public double WeightDecay { get; set; } = 0.01;
    public int N { get; set; } = 32;
    public double Shift { get; set; } = 5;
    public double Guidance { get; set; } = 4.5;

    public CdSettings Settings => new() { Steps = N, Shift = Shift, Guidance = Guidance };

    public void Validate(string key, string? file)
    {
        if (N < 1) throw ConfigException.For(file, key + ".n", "must be >= 1");
        if (Shift <= 0) throw ConfigException.For(file, key + ".shift", "must be > 0");
        if (Steps < 0 || Batch < 1 || Lr <= 0) throw ConfigException.For(file, key, "steps >= 0, batch >= 1 and lr > 0 required");
    }
}

/// <summary>The adversarial phases; each binds <see cref="AptPhaseSettings"/> directly (its property names in
/// snake_case: updates, micro_batch, accumulation, lr_generator, lr_discriminator, ema_decay, discriminator_shift,
/// r1_lambda, r1_sigma, r1_reading, ...).</summary>
public sealed class AvatarAptPhasesConfig : IValidatable
{
    /// <summary>0-indexed discriminator head blocks; empty = proportional to 16/26/36 of 36 (12, 21, 29 for 30 blocks).</summary>
    public List<int> HeadLayers { get; set; } = [];
    public AptPhaseSettings Image { get; set; } = new() { Name = "image" };
    public AptPhaseSettings Video { get; set; } = new() { Name = "video", LrGenerator = 3e-6, LrDiscriminator = 3e-6, DiscriminatorShift = 12, R1Sigma = 0.1, Updates = 300 };

    public void Validate(string key, string? file)
    {
        foreach (var (name, p) in new[] { ("image", Image), ("video", Video) })
        {
            try { (p with { Name = name }).Validate(); }
            catch (ArgumentException e) { throw ConfigException.For(file, $"{key}.{name}", e.Message); }
        }
    }
}
