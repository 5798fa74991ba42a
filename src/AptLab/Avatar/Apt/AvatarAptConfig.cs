using AptLab.Config;
using AptLab.Avatar.Inference;
using AptLab.Torch.nn;

namespace AptLab.Avatar.Apt;

/// <summary>
/// The <c>omniavatar</c> section of an <c>experiment: apt-omniavatar</c> config (configs/apt-omniavatar-*.yaml): the
/// teacher's weights (Wan base + OmniAvatar LoRA/audio checkpoint, or a tiny random one), its dtype and the encoded
/// training data (a <see cref="AptLab.Data.LatentCache"/> folder) with the CFG negative. Consistency distillation and the two
/// adversarial phases are the runner's <c>distill</c> and <c>apt</c> sections (docs/consistency-distillation.md#settings adapted to OmniAvatar).
/// Paths are relative to the working directory, as in OmniAvatar's configs.
/// </summary>
public sealed class AvatarAptConfig : IValidatable
{
    /// <summary>Parameter dtype of teacher, student and discriminator: bf16 (as upstream), fp16 or fp32.</summary>
    public string Dtype { get; set; } = "bf16";
    public AvatarAptModelConfig Model { get; set; } = new();
    public AvatarAptDataConfig Data { get; set; } = new();

    [YamlDotNet.Serialization.YamlIgnore]
    public ScalarType ModelDtype => Dtype switch
    {
        "bf16" => ScalarType.BFloat16, "fp16" => ScalarType.Float16, _ => ScalarType.Float32,
    };

    public void Validate(string key, string? file)
    {
        if (Dtype is not ("bf16" or "fp16" or "fp32")) throw ConfigException.For(file, key + ".dtype", $"'{Dtype}' must be bf16, fp16 or fp32");
        if (Model.RandomWeights && string.IsNullOrWhiteSpace(Data.Cache) && Data.RandomSamples < 1)
            throw ConfigException.For(file, key + ".data", "random_weights without a cache needs random_samples >= 1");
        if (!Model.RandomWeights && string.IsNullOrWhiteSpace(Data.Cache))
            throw ConfigException.For(file, key + ".data.cache", "names the LatentCache folder of the training samples");
        Data.ValidateNegative(Model.RandomWeights, key + ".data", file);
    }

    /// <summary>Checks <paramref name="headLayers"/> (the apt section's) against the architecture.</summary>
    public void ValidateHeadLayers(IReadOnlyList<int> headLayers, string? file)
    {
        int layers = Model.Architecture.Wan.NumLayers;
        if (headLayers.Any(l => l < 0 || l >= layers))
            throw ConfigException.For(file, "apt.head_layers", $"[{string.Join(", ", headLayers)}] must lie in 0..{layers - 1} ({Model.Preset})");
    }
}

/// <summary>The teacher: OmniAvatar's DiT built from the Wan 2.1 T2V weights and the OmniAvatar checkpoint
/// (docs/omniavatar.md#checkpoints), its LoRA merged; or, with <c>random_weights</c>, a tiny random one (CPU smoke runs).</summary>
public sealed class AvatarAptModelConfig : IValidatable
{
    /// <summary>Architecture: omniavatar-1.3b (Wan 1.3B: 30 blocks, dim 1536), omniavatar-14b, or tiny (random_weights).</summary>
    public string Preset { get; set; } = "omniavatar-1.3b";
    /// <summary>A tiny random teacher (<see cref="AvatarModels.TinyDit"/>, seeded by the run's seed) and a tiny random
    /// umT5 for the negative prompt; dit_path, exp_path and text_encoder_path are not read.</summary>
    public bool RandomWeights { get; set; }
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
    /// <summary>Optional weights the generator starts consistency distillation from (a plain OmniAvatar state dict,
    /// e.g. an earlier CD student; with distill.steps 0 the APT phases start from it); empty: a copy of the teacher.</summary>
    public string StudentInit { get; set; } = "";

    /// <summary>Text width and length of the tiny random models (T5EncoderConfig.Tiny's dim).</summary>
    public const int TinyTextDim = 32, TinyTextLen = 16;

    [YamlDotNet.Serialization.YamlIgnore]
    public OmniAvatarConfig Architecture => Preset switch
    {
        "tiny" => AvatarModels.TinyDit(TinyTextDim, TinyTextLen, AudioInDim) with { AudioHiddenSize = AudioHiddenSize },
        "omniavatar-14b" => OmniAvatarConfig.OmniAvatar_14B with { AudioHiddenSize = AudioHiddenSize, AudioInDim = AudioInDim },
        _ => OmniAvatarConfig.OmniAvatar_1_3B with { AudioHiddenSize = AudioHiddenSize, AudioInDim = AudioInDim },
    };

    [YamlDotNet.Serialization.YamlIgnore]
    public LoraConfig Lora => new(LoraRank, LoraAlpha, LoraConfig.ParseTargets(LoraTargetModules));

    public void Validate(string key, string? file)
    {
        if (Preset is not ("omniavatar-1.3b" or "omniavatar-14b" or "tiny"))
            throw ConfigException.For(file, key + ".preset", $"'{Preset}' must be omniavatar-1.3b, omniavatar-14b or tiny");
        if ((Preset == "tiny") != RandomWeights)
            throw ConfigException.For(file, key + ".random_weights", "the tiny preset and random_weights go together (released weights are 1.3B or 14B)");
        if (!RandomWeights && string.IsNullOrWhiteSpace(DitPath)) throw ConfigException.For(file, key + ".dit_path", "names the Wan 2.1 T2V safetensors");
        if (!RandomWeights && string.IsNullOrWhiteSpace(ExpPath)) throw ConfigException.For(file, key + ".exp_path", "names the folder of OmniAvatar's pytorch_model.pt");
        try { Lora.Validate(); Architecture.Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message); }
    }
}

/// <summary>Encoded samples (LatentCache tensors "latents" [16, F, h, w], "ref_latents" [16, 1, h, w], "audio"
/// [4F - 3, audio_in_dim], "context" [Lt, 4096]) and the negative prompt of the teacher's CFG.</summary>
public sealed class AvatarAptDataConfig : IValidatable
{
    /// <summary>The LatentCache folder; empty with random_weights: random_samples seeded samples in the run folder.</summary>
    public string Cache { get; set; } = "";
    /// <summary>random_weights runs without a cache: samples written to &lt;run&gt;/cache (seeded by the run's seed).</summary>
    public int RandomSamples { get; set; } = 0;
    /// <summary>Frame size of the cached clips in pixels (the latents are [16, F, height/8, width/8]); 0 = not given.
    /// `aptlab plan` needs it; the run checks the cache's first sample against it.</summary>
    public int Height { get; set; }
    public int Width { get; set; }
    /// <summary>Latent frames of the video phase (13 = 49 video frames, APT's clip length).</summary>
    public int VideoLatentFrames { get; set; } = 13;
    /// <summary>Leading latent frames marked known (mask 0) in y for the video phase (OmniAvatar's first chunk: 1).</summary>
    public int KnownFrames { get; set; } = 1;
    public string NegativePrompt { get; set; } = AvatarDefaults.NegativePrompt;
    /// <summary>umT5 weights and tokenizer for encoding the negative prompt once (tokenizer default: google/umt5-xxl
    /// beside the weights).</summary>
    public string TextEncoderPath { get; set; } = "";
    public string TokenizerPath { get; set; } = "";
    /// <summary>A precomputed negative: a safetensors file with "context" [Lt, text_dim]; replaces the text encoder.</summary>
    public string NegativeContext { get; set; } = "";

    public void Validate(string key, string? file)
    {
        if (VideoLatentFrames < 1) throw ConfigException.For(file, key + ".video_latent_frames", "must be >= 1");
        if (KnownFrames < 0 || KnownFrames >= VideoLatentFrames) throw ConfigException.For(file, key + ".known_frames", $"must be in [0, video_latent_frames {VideoLatentFrames})");
        if (RandomSamples < 0) throw ConfigException.For(file, key + ".random_samples", "must be >= 0");
        foreach (var (k, v) in new[] { ("height", Height), ("width", Width) })
            if (v < 0 || v % 16 != 0) throw ConfigException.For(file, $"{key}.{k}", $"{v} must be a multiple of 16 (0: not given)");
    }

    /// <summary>The negative needs negative_context, or the tokenizer (random_weights) / the umT5 weights.</summary>
    public void ValidateNegative(bool randomWeights, string key, string? file)
    {
        if (!string.IsNullOrWhiteSpace(NegativeContext)) return;
        if (randomWeights ? string.IsNullOrWhiteSpace(TokenizerPath) : string.IsNullOrWhiteSpace(TextEncoderPath))
            throw ConfigException.For(file, key + (randomWeights ? ".tokenizer_path" : ".text_encoder_path"),
                "is needed to encode the negative prompt (or give negative_context, a precomputed \"context\" tensor)");
    }
}
