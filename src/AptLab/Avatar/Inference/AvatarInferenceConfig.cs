using System.Text.Json;
using AptLab.Config;
using YamlDotNet.Serialization;

namespace AptLab.Avatar.Inference;

/// <summary>
/// The YAML of <c>aptlab avatar</c>: the keys and defaults of OmniAvatar's <c>configs/inference*.yaml</c>
/// (docs/omniavatar.md#sampling), the keys of the checkpoint's <c>config.json</c> (filled from <c>exp_path/config.json</c> when
/// <c>reload_cfg</c> is true and the YAML leaves them unset), and AptLab's own: <c>tokenizer_path</c>,
/// <c>random_weights</c> (tiny random models, CPU smoke runs), <c>output_dir</c>, <c>device</c>, <c>threads</c>.
/// </summary>
public sealed class AvatarInferenceConfig : IValidatable
{
    public string Dtype { get; set; } = "bf16";
    public string? TextEncoderPath { get; set; }
    /// <summary>The umT5 tokenizer folder or spiece.model (default: <c>google/umt5-xxl</c> beside the text encoder).</summary>
    public string? TokenizerPath { get; set; }
    /// <summary>Unused by OmniAvatar (the string "None" upstream).</summary>
    public string? ImageEncoderPath { get; set; }
    /// <summary>Wan 2.1 T2V DiT weights: one file, a folder, or a comma-separated list of shards.</summary>
    public string? DitPath { get; set; }
    public string? VaePath { get; set; }
    public string? Wav2vecPath { get; set; }
    /// <summary>Folder with the OmniAvatar <c>pytorch_model.pt</c> and <c>config.json</c>.</summary>
    public string? ExpPath { get; set; }
    /// <summary>VRAM management upstream; accepted and ignored (all weights stay resident).</summary>
    public long? NumPersistentParamInDit { get; set; }
    public bool ReloadCfg { get; set; } = true;
    public int SpSize { get; set; } = 1;
    public ulong Seed { get; set; } = 42;
    [YamlMember(Alias = "image_sizes_720")]
    public List<List<int>> ImageSizes720 { get; set; } = [[400, 720], [720, 720], [720, 400]];
    [YamlMember(Alias = "image_sizes_1280")]
    public List<List<int>> ImageSizes1280 { get; set; } = [[720, 720], [528, 960], [960, 528], [720, 1280], [1280, 720]];
    public int MaxHw { get; set; } = 720;
    public int MaxTokens { get; set; } = 30000;
    /// <summary>Frames when there is no audio (unused: audio is required).</summary>
    public int SeqLen { get; set; } = 200;
    public int OverlapFrame { get; set; } = 13;
    public double GuidanceScale { get; set; } = 4.5;
    public double? AudioScale { get; set; }
    public int NumSteps { get; set; } = 50;
    public int Fps { get; set; } = 25;
    public int SampleRate { get; set; } = 16000;
    public string NegativePrompt { get; set; } = AvatarDefaults.NegativePrompt;
    public double SilenceDurationS { get; set; } = 0.3;
    public bool UseFsdp { get; set; }
    public double TeaCacheL1Thresh { get; set; }

    // ---- exp_path/config.json keys (null = take them from the file) ----
    public int? LoraRank { get; set; }
    public double? LoraAlpha { get; set; }
    public string? LoraTargetModules { get; set; }
    public string? InitLoraWeights { get; set; }
    public string? TrainArchitecture { get; set; }
    public bool? UseAudio { get; set; }
    public bool? I2v { get; set; }
    public bool? RandomPrefixFrames { get; set; }
    public AvatarModelConfig? ModelConfig { get; set; }

    // ---- AptLab ----
    /// <summary>Build tiny models with random weights instead of loading checkpoints (CPU smoke runs; the video is noise).</summary>
    public bool RandomWeights { get; set; }
    public string OutputDir { get; set; } = "results/avatar";
    public string Device { get; set; } = "cpu";
    /// <summary>Intra-op threads (0 = the machine's cores).</summary>
    public int Threads { get; set; }

    /// <summary>The buckets for <see cref="MaxHw"/>.</summary>
    public IReadOnlyList<int[]> ImageSizes => (MaxHw == 1280 ? ImageSizes1280 : ImageSizes720).Select(b => b.ToArray()).ToList();

    public ScalarType ModelDtype => Dtype switch { "bf16" => ScalarType.BFloat16, "fp16" => ScalarType.Float16, _ => ScalarType.Float32 };

    public void Validate(string key, string? file)
    {
        ConfigException Bad(string k, string why) => ConfigException.For(file, k, why);
        if (Dtype is not ("bf16" or "fp16" or "fp32")) throw Bad("dtype", $"'{Dtype}' is not bf16, fp16 or fp32");
        if (SpSize != 1) throw Bad("sp_size", "sequence parallelism is not supported; use 1");
        if (UseFsdp) throw Bad("use_fsdp", "FSDP inference is not supported; use false");
        if (MaxHw is not (720 or 1280)) throw Bad("max_hw", $"{MaxHw} must be 720 or 1280 (it picks image_sizes_720 / image_sizes_1280)");
        foreach (var (k, list) in new[] { ("image_sizes_720", ImageSizes720), ("image_sizes_1280", ImageSizes1280) })
        {
            if (list.Count == 0) throw Bad(k, "has no bucket");
            foreach (var b in list)
                if (b.Count != 2 || b[0] <= 0 || b[1] <= 0 || b[0] % 16 != 0 || b[1] % 16 != 0)
                    throw Bad(k, $"bucket [{string.Join(", ", b)}] must be [H, W] with positive multiples of 16 (VAE 8x, patch 2x)");
        }
        if (MaxTokens <= 0) throw Bad("max_tokens", "must be positive");
        if (OverlapFrame < 1 || OverlapFrame % 4 != 1) throw Bad("overlap_frame", $"{OverlapFrame} must be 1 + 4n");
        if (NumSteps < 1) throw Bad("num_steps", "must be >= 1");
        if (Fps <= 0) throw Bad("fps", "must be positive");
        if (SampleRate != 16000) throw Bad("sample_rate", "wav2vec2 needs 16000");
        if (SilenceDurationS < 0) throw Bad("silence_duration_s", "must be >= 0");
        if (TeaCacheL1Thresh < 0) throw Bad("tea_cache_l1_thresh", "must be >= 0");
        if (LoraRank is <= 0) throw Bad("lora_rank", "must be positive");
        if (LoraAlpha is <= 0) throw Bad("lora_alpha", "must be positive");
        if (Threads < 0) throw Bad("threads", "must be >= 0");
        try { AptLab.Torch.Device.Parse(Device); }
        catch (ArgumentException e) { throw Bad("device", e.Message); }
        if (AptLab.Torch.Device.Parse(Device).Type != DeviceType.CPU) throw Bad("device", $"'{Device}': aptlab avatar runs on cpu in this version");
        if (!RandomWeights)
            foreach (var (k, v) in new[] { ("dit_path", DitPath), ("vae_path", VaePath), ("text_encoder_path", TextEncoderPath), ("wav2vec_path", Wav2vecPath), ("exp_path", ExpPath) })
                if (string.IsNullOrWhiteSpace(v)) throw Bad(k, "is required (or set random_weights: true for a tiny random model)");
    }

    /// <summary><c>reload_cfg</c>: keys of <c>exp_path/config.json</c> fill the ones the YAML left unset (YAML wins).</summary>
    public void MergeExperimentJson(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var r = doc.RootElement;
        try
        {
            if (r.TryGetProperty("lora_rank", out var v)) LoraRank ??= v.GetInt32();
            if (r.TryGetProperty("lora_alpha", out v)) LoraAlpha ??= v.GetDouble();
            if (r.TryGetProperty("lora_target_modules", out v)) LoraTargetModules ??= v.ValueKind == JsonValueKind.Array
                ? string.Join(",", v.EnumerateArray().Select(e => e.GetString())) : v.GetString();
            if (r.TryGetProperty("init_lora_weights", out v)) InitLoraWeights ??= v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetBoolean() ? "kaiming" : "random";
            if (r.TryGetProperty("train_architecture", out v)) TrainArchitecture ??= v.GetString();
            if (r.TryGetProperty("use_audio", out v)) UseAudio ??= v.GetBoolean();
            if (r.TryGetProperty("i2v", out v)) I2v ??= v.GetBoolean();
            if (r.TryGetProperty("random_prefix_frames", out v)) RandomPrefixFrames ??= v.GetBoolean();
            if (r.TryGetProperty("audio_scale", out v) && v.ValueKind == JsonValueKind.Number) AudioScale ??= v.GetDouble();
            if (r.TryGetProperty("model_config", out v))
            {
                ModelConfig ??= new AvatarModelConfig();
                if (v.TryGetProperty("in_dim", out var d)) ModelConfig.InDim ??= d.GetInt32();
                if (v.TryGetProperty("audio_hidden_size", out d)) ModelConfig.AudioHiddenSize ??= d.GetInt32();
            }
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new ConfigException($"{path}: a key has the wrong type ({e.Message})");
        }
    }

    /// <summary>Sampling settings of one chunk.</summary>
    public AvatarSamplingOptions Sampling => new()
    {
        NumSteps = NumSteps, GuidanceScale = GuidanceScale, AudioScale = AudioScale, TeaCacheThreshold = TeaCacheL1Thresh,
    };

    /// <summary>Settings of the long-video run.</summary>
    public AvatarVideoOptions Video => new()
    {
        Sampling = Sampling, ImageSizes = ImageSizes, MaxTokens = MaxTokens, OverlapFrame = OverlapFrame,
        RandomPrefixFrames = RandomPrefixFrames ?? true, Fps = Fps, NegativePrompt = NegativePrompt, Seed = Seed,
    };
}

/// <summary>config.json's <c>model_config</c>: overrides of the DiT constructor.</summary>
public sealed class AvatarModelConfig
{
    public int? InDim { get; set; }
    public int? AudioHiddenSize { get; set; }
}
