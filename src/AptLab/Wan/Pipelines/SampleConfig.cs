using AptLab.Config;

namespace AptLab.Wan.Pipelines;

/// <summary>
/// The YAML of <c>aptlab sample</c> (configs/sample-*.yaml): which Wan 2.1 model to load and the sampling defaults.
/// <code>
/// model: checkpoint            # or "tiny": random weights of the tiny test sizes (CPU, seconds)
/// task: t2v                    # or i2v
/// dit: checkpoints/Wan2.1-T2V-1.3B/diffusion_pytorch_model.safetensors   # file, *.safetensors.index.json or folder
/// vae: checkpoints/Wan2.1-T2V-1.3B/Wan2.1_VAE.pth
/// t5: checkpoints/Wan2.1-T2V-1.3B/models_t5_umt5-xxl-enc-bf16.pth
/// tokenizer: checkpoints/Wan2.1-T2V-1.3B/google/umt5-xxl                  # folder holding spiece.model, or the file
/// clip: checkpoints/Wan2.1-I2V-14B-480P/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth   # i2v only
/// device: cuda
/// dtype: bfloat16
/// sample: {steps: 50, shift: 5.0, guide: 5.0, sampler: unipc, frames: 81, size: 832x480, seed: 0, fps: 16}
/// </code>
/// Paths are relative to the working directory. Files are checked when the models load, so a config with
/// placeholder paths still parses.
/// </summary>
public sealed class SampleConfig : IValidatable
{
    public string Model { get; set; } = "checkpoint";
    public string Task { get; set; } = "t2v";
    public string? Dit { get; set; }
    public string? Vae { get; set; }
    public string? T5 { get; set; }
    public string? Tokenizer { get; set; }
    /// <summary>I2V: the CLIP checkpoint whose vision tower encodes the image (docs/wan-clip.md); not needed when the
    /// features are passed in (<c>--clip-features</c>).</summary>
    public string? Clip { get; set; }
    public string Device { get; set; } = "cpu";
    /// <summary>Dtype of the DiT and the text encoder (float32, bfloat16 or float16); the VAE stays float32.</summary>
    public string Dtype { get; set; } = "float32";
    /// <summary>Intra-op threads (0 = libtorch's default).</summary>
    public int Threads { get; set; }
    public TinyModelConfig Tiny { get; set; } = new();
    public SampleDefaults Sample { get; set; } = new();

    public bool IsTiny => Model == "tiny";
    public bool IsI2V => Task == "i2v";

    public ScalarType ModelDtype() => Dtype switch
    {
        "float32" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"dtype '{Dtype}' is not float32, bfloat16 or float16"),
    };

    public void Validate(string key, string? file)
    {
        if (Model is not ("checkpoint" or "tiny")) throw ConfigException.For(file, "model", $"'{Model}' is not 'checkpoint' or 'tiny'");
        if (Task is not ("t2v" or "i2v")) throw ConfigException.For(file, "task", $"'{Task}' is not 't2v' or 'i2v'");
        if (Dtype is not ("float32" or "bfloat16" or "float16")) throw ConfigException.For(file, "dtype", $"'{Dtype}' is not float32, bfloat16 or float16");
        try { AptLab.Torch.Device.Parse(Device); }
        catch (ArgumentException e) { throw ConfigException.For(file, "device", e.Message); }
        if (Threads < 0) throw ConfigException.For(file, "threads", "must be >= 0");
        if (Clip is not null && !IsI2V) throw ConfigException.For(file, "clip", "is only used by task: i2v");
        if (!IsTiny)
            foreach (var (k, v) in new[] { ("dit", Dit), ("vae", Vae), ("t5", T5), ("tokenizer", Tokenizer) })
                if (string.IsNullOrWhiteSpace(v)) throw ConfigException.For(file, k, "is required for model: checkpoint (the path of the official file)");
    }
}

/// <summary>The tiny random-weight preset (<c>model: tiny</c>): DiT, VAE and umT5 at test sizes, weights drawn from
/// <see cref="Seed"/>. The tokenizer defaults to the repository's demo SentencePiece model.</summary>
public sealed class TinyModelConfig : IValidatable
{
    public ulong Seed { get; set; }
    public int Dim { get; set; } = 64;
    public int FfnDim { get; set; } = 128;
    public int NumHeads { get; set; } = 2;
    public int NumLayers { get; set; } = 2;
    public int TextDim { get; set; } = 32;
    public int TextLen { get; set; } = 32;
    public int VaeDim { get; set; } = 8;
    /// <summary>I2V: width of the CLIP features the tiny DiT takes (1280 for the real model), which is the width of
    /// the tiny CLIP tower (2 heads, 3 blocks, 28 px images: 5 tokens).</summary>
    public int ClipDim { get; set; } = 32;

    public void Validate(string key, string? file)
    {
        foreach (var (k, v) in new[] { ("dim", Dim), ("ffn_dim", FfnDim), ("num_heads", NumHeads), ("num_layers", NumLayers),
                     ("text_dim", TextDim), ("text_len", TextLen), ("vae_dim", VaeDim), ("clip_dim", ClipDim) })
            if (v <= 0) throw ConfigException.For(file, $"{key}.{k}", $"must be positive, got {v}");
        if (Dim % NumHeads != 0 || Dim / NumHeads % 2 != 0 || Dim / NumHeads < 6)
            throw ConfigException.For(file, $"{key}.num_heads", $"must divide dim {Dim} into an even head dim >= 6");
        if (TextDim % 2 != 0) throw ConfigException.For(file, $"{key}.text_dim", $"must be even (2 text heads), got {TextDim}");
        if (TextLen < 2) throw ConfigException.For(file, $"{key}.text_len", "must be >= 2");
        if (ClipDim % 2 != 0) throw ConfigException.For(file, $"{key}.clip_dim", $"must be even (2 CLIP heads), got {ClipDim}");
        if (VaeDim % 2 != 0) throw ConfigException.For(file, $"{key}.vae_dim", $"must be even, got {VaeDim}");
    }
}

/// <summary>Sampling defaults of a config; the command line overrides each. Unset values take the official
/// defaults of the task (T2V: 50 steps, shift 5; I2V: 40 steps, shift 3 at 480p else 5; guide 5; 81 frames at
/// 832x480; 16 fps).</summary>
public sealed class SampleDefaults : IValidatable
{
    public int? Steps { get; set; }
    public double? Shift { get; set; }
    public double? Guide { get; set; }
    public string Sampler { get; set; } = "unipc";
    public int? Frames { get; set; }
    /// <summary>WIDTHxHEIGHT (I2V: the area; the output follows the image's aspect ratio).</summary>
    public string? Size { get; set; }
    public ulong Seed { get; set; }
    public double Fps { get; set; } = 16;
    /// <summary>Null: the task's official default negative prompt; "" is the empty prompt.</summary>
    public string? NegativePrompt { get; set; }

    public void Validate(string key, string? file)
    {
        try { WanSampleSettings.ParseSampler(Sampler); }
        catch (ArgumentException e) { throw ConfigException.For(file, $"{key}.sampler", e.Message); }
        if (Size is not null)
            try { WanSampleSettings.ParseSize(Size); }
            catch (ArgumentException e) { throw ConfigException.For(file, $"{key}.size", e.Message); }
        if (Steps is < 1) throw ConfigException.For(file, $"{key}.steps", $"must be >= 1, got {Steps}");
        if (Frames is int f && (f < 1 || (f - 1) % 4 != 0)) throw ConfigException.For(file, $"{key}.frames", $"{f} is not 1 + 4k");
        if (Shift is double s && !(s > 0)) throw ConfigException.For(file, $"{key}.shift", $"must be positive, got {s}");
        if (!(Fps > 0)) throw ConfigException.For(file, $"{key}.fps", $"must be positive, got {Fps}");
    }
}

/// <summary>Command-line values that override a config's <see cref="SampleDefaults"/> (null = not given).</summary>
public sealed record SampleOverrides(
    string Prompt, string? NegativePrompt = null, int? Steps = null, double? Guide = null, ulong? Seed = null,
    int? Frames = null, string? Size = null, string? Sampler = null, double? Shift = null)
{
    /// <summary>The settings of one call: command line, else config, else the task's official default.</summary>
    public WanSampleSettings Resolve(SampleConfig cfg)
    {
        var d = cfg.Sample;
        var (w, h) = WanSampleSettings.ParseSize(Size ?? d.Size ?? "832x480");
        var official = cfg.IsI2V ? WanSampleSettings.I2VDefaults(Prompt, w, h) : WanSampleSettings.T2VDefaults(Prompt);
        return official with
        {
            NegativePrompt = NegativePrompt ?? d.NegativePrompt,
            Width = w, Height = h,
            Frames = Frames ?? d.Frames ?? official.Frames,
            Steps = Steps ?? d.Steps ?? official.Steps,
            Shift = Shift ?? d.Shift ?? official.Shift,
            Guide = Guide ?? d.Guide ?? official.Guide,
            Seed = Seed ?? d.Seed,
            Sampler = WanSampleSettings.ParseSampler(Sampler ?? d.Sampler),
        };
    }
}
