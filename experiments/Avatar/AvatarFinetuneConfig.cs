using AptLab.Config;
using AptLab.Avatar.Training;
using AptLab.Avatar.Data;
using AptLab.Avatar;
using AptLab.Avatar.Audio;
using AptLab.Avatar.Inference;
using AptLab.Wan.Text;

namespace AptLab.Experiments.Avatar;

/// <summary>
/// The <c>avatar:</c> section of an <c>experiment: omniavatar-finetune</c> config: OmniAvatar fine-tuning
/// (docs/omniavatar.md#training) of LoRA + audio modules + patch embedding on a manifest of clips. Either tiny random models
/// (<c>random_weights: true</c>, for CPU smoke runs) or the released checkpoints named by the path keys (names as in
/// OmniAvatar's inference.yaml).
/// </summary>
public sealed class AvatarFinetuneConfig : IValidatable
{
    public bool RandomWeights { get; set; } = true;
    /// <summary>The architecture: omniavatar-1.3b or omniavatar-14b (random_weights: empty or tiny). The run reads it
    /// from dit_path and checks it against this; `aptlab plan` builds it without the weights. Empty: as dit_path says.</summary>
    public string Preset { get; set; } = "";
    /// <summary>SentencePiece model of umT5 (random_weights: any SentencePiece model, e.g. configs/demo/spiece.model).</summary>
    public string TokenizerPath { get; set; } = "configs/demo/spiece.model";
    /// <summary>Wan 2.1 T2V DiT safetensors (comma-separated shards for 14B).</summary>
    public string? DitPath { get; set; }
    public string? VaePath { get; set; }
    public string? TextEncoderPath { get; set; }
    /// <summary>wav2vec2-base-960h folder or file.</summary>
    public string? Wav2vecPath { get; set; }
    /// <summary>fp32 (CPU) or bf16 (GPU configs).</summary>
    public string Dtype { get; set; } = "fp32";
    public int TextLen { get; set; } = 512;

    public int LoraRank { get; set; } = 128;
    public double LoraAlpha { get; set; } = 64;
    public string LoraTargetModules { get; set; } = "q,k,v,o,ffn.0,ffn.2";

    public AvatarDataConfig Data { get; set; } = new();

    public int Steps { get; set; } = 1000;
    public int MicroBatch { get; set; } = 1;
    public int Accumulation { get; set; } = 1;
    public double Lr { get; set; } = 1e-4;
    public double WeightDecay { get; set; } = 1e-2;
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.999;
    public int WarmupSteps { get; set; }
    public double MaxGradNorm { get; set; } = 1.0;
    public bool GradientCheckpointing { get; set; } = true;
    public int MinPrefixFrames { get; set; } = 1;
    public int MaxPrefixFrames { get; set; } = 1;
    public bool LossOnPrefixFrames { get; set; }
    /// <summary>Probability of zero audio per sample (audio CFG's unconditional branch); OmniAvatar's value is unknown.</summary>
    public double AudioDropout { get; set; }
    public int CheckpointEvery { get; set; } = 100;

    public AvatarTrainerSettings Settings() => new()
    {
        Lr = Lr, Beta1 = Beta1, Beta2 = Beta2, WeightDecay = WeightDecay, WarmupSteps = WarmupSteps, MaxGradNorm = MaxGradNorm,
        MicroBatch = MicroBatch, Accumulation = Accumulation, GradientCheckpointing = GradientCheckpointing,
        MinPrefixFrames = MinPrefixFrames, MaxPrefixFrames = MaxPrefixFrames, LossOnPrefixFrames = LossOnPrefixFrames,
        AudioDropout = AudioDropout,
    };

    public ScalarType ModelDtype() => Dtype == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>The DiT: the tiny one of random_weights (tiny umT5 and wav2vec2 widths, text_len), the preset's, or null
    /// (no preset: only dit_path knows).</summary>
    public OmniAvatarConfig? Architecture() => RandomWeights
        ? AvatarModels.TinyDit(T5EncoderConfig.Tiny.Dim, TextLen, OmniAvatarAudioEncoder.EmbeddingWidth(Wav2Vec2Config.Tiny))
        : Preset switch
        {
            "omniavatar-1.3b" => OmniAvatarConfig.OmniAvatar_1_3B with { Wan = OmniAvatarConfig.OmniAvatar_1_3B.Wan with { TextLen = TextLen } },
            "omniavatar-14b" => OmniAvatarConfig.OmniAvatar_14B with { Wan = OmniAvatarConfig.OmniAvatar_14B.Wan with { TextLen = TextLen } },
            _ => null,
        };

    public void Validate(string key, string? file)
    {
        ConfigException Bad(string k, string why) => ConfigException.For(file, $"{key}.{k}", why);
        if (Dtype is not ("fp32" or "bf16")) throw Bad("dtype", $"'{Dtype}' must be fp32 or bf16");
        if (RandomWeights ? Preset is not ("" or "tiny") : Preset is not ("" or "omniavatar-1.3b" or "omniavatar-14b"))
            throw Bad("preset", RandomWeights ? $"'{Preset}': random_weights builds the tiny DiT (preset empty or tiny)"
                : $"'{Preset}' must be omniavatar-1.3b or omniavatar-14b (or empty: as dit_path says)");
        if (!RandomWeights)
            foreach (var (k, v) in new[] { ("dit_path", DitPath), ("vae_path", VaePath), ("text_encoder_path", TextEncoderPath), ("wav2vec_path", Wav2vecPath) })
                if (string.IsNullOrWhiteSpace(v)) throw Bad(k, "is required unless random_weights is true");
        if (string.IsNullOrWhiteSpace(TokenizerPath)) throw Bad("tokenizer_path", "must name a SentencePiece model");
        if (TextLen < 2) throw Bad("text_len", "must be >= 2");
        if (LoraRank < 1) throw Bad("lora_rank", "must be >= 1");
        if (!(LoraAlpha > 0)) throw Bad("lora_alpha", "must be positive");
        if (Steps < 0) throw Bad("steps", "must be >= 0");
        if (CheckpointEvery < 1) throw Bad("checkpoint_every", "must be >= 1");
        if (MaxPrefixFrames >= Data.LatentFrames()) throw Bad("max_prefix_frames", $"{MaxPrefixFrames} leaves no frame to generate of the {Data.LatentFrames()} latent frames of data.frames {Data.Frames}");
        try { Settings().Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message); }
    }
}

/// <summary>The clips of an avatar fine-tuning run.</summary>
public sealed class AvatarDataConfig : IValidatable
{
    /// <summary>CSV or JSONL manifest (see <see cref="AvatarManifest"/>); empty: generate <see cref="SyntheticClips"/>
    /// talking-shape clips into <see cref="Dir"/>.</summary>
    public string Manifest { get; set; } = "";
    public int SyntheticClips { get; set; }
    /// <summary>Folder of generated clips and of the latent cache; empty: the run folder's <c>data/</c>.</summary>
    public string Dir { get; set; } = "";
    /// <summary>Latent cache folder; empty: <c>&lt;dir or manifest folder&gt;/cache-HxWxF</c>.</summary>
    public string Cache { get; set; } = "";
    public int Height { get; set; } = 480;
    public int Width { get; set; } = 832;
    /// <summary>Video frames per clip, 1 + 4k (81 = Wan's clip length).</summary>
    public int Frames { get; set; } = 81;
    public int Fps { get; set; } = 25;

    public int LatentFrames() => (Frames - 1) / 4 + 1;
    public AvatarClipSpec Spec() => new(Height, Width, Frames, Fps);

    public void Validate(string key, string? file)
    {
        try { Spec().Validate(); }
        catch (ArgumentException e) { throw ConfigException.For(file, key, e.Message); }
        if (string.IsNullOrWhiteSpace(Manifest) && SyntheticClips < 1)
            throw ConfigException.For(file, key + ".manifest", "name a manifest, or set synthetic_clips > 0 to generate clips");
        if (SyntheticClips < 0) throw ConfigException.For(file, key + ".synthetic_clips", "must be >= 0");
        if (SyntheticClips > 0 && Height != Width) throw ConfigException.For(file, key + ".width", "synthetic clips are square: height must equal width");
    }
}
