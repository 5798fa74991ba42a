using AptLab.Config;
using AptLab.Wan;
using AptLab.Wan.Text;

namespace AptLab.Experiments;

/// <summary>
/// APT on a released Wan 2.1 DiT (docs/apt.md#heads): the checkpoint initialises the discriminator (and is the CD teacher);
/// the generator starts from <c>apt.student</c>, or, when that is empty, from the CD student the run distils first
/// (<see cref="WanAptExperiment"/>; the CFG negative from <see cref="NegativeContext"/> or <see cref="NegativePrompt"/>). Training data are two <see cref="Data.LatentCache"/> folders (one
/// per phase) whose samples hold <c>latents</c> [16, f, h, w] (the Wan VAE's posterior means, unnormalised; the
/// DiT sees (mu - mean) / std of the Wan 2.1 statistics) and <c>context</c> [L, 4096] (umT5-XXL outputs of the
/// caption, L &lt;= the DiT's text_len; zero-padded to it as Wan does). Captions without a context must be
/// encoded first (umT5-XXL is not run inside the APT loop).
/// </summary>
public sealed class WanAptConfig : IValidatable
{
    /// <summary>The architecture the checkpoint must have: t2v-1.3b | t2v-14b (Wan 2.1 presets), tiny (random_weights), or
    /// empty for any.</summary>
    public string Preset { get; set; } = "";
    /// <summary>CPU runs of the recipe at toy size (configs/apt-wan2.1-tiny.yaml): a seeded random DiT of the preset in the
    /// release layout, LatentCache folders of random samples and a negative context are written into the run folder
    /// (&lt;run&gt;/inputs/) for the path keys left empty, then read exactly as a release and real caches are
    /// (<see cref="WanTinyInputs"/>).</summary>
    public bool RandomWeights { get; set; }
    /// <summary>random_weights: samples per written latent cache.</summary>
    public int RandomSamples { get; set; } = 8;
    /// <summary>The DiT: a .safetensors file, a sharded index or the release folder (config.json beside it is read).</summary>
    public string Checkpoint { get; set; } = "";
    /// <summary>float32 | bfloat16 | float16: the dtype the weights are loaded in (what the host or GPU holds of a whole
    /// network); what training computes and keeps in is the run's <c>precision</c> (APT: bf16-mixed).</summary>
    public string Dtype { get; set; } = "float32";
    public bool GradientCheckpointing { get; set; } = true;
    /// <summary>LatentCache folders of the image phase (single frames) and the video phase (clips).</summary>
    public string ImageData { get; set; } = "";
    public string VideoData { get; set; } = "";
    /// <summary>WIDTHxHEIGHT of the phase's data; the cached latents must be [16, 1 + (frames - 1) / 4, H / 8, W / 8].</summary>
    public string ImageSize { get; set; } = "832x480";
    public string VideoSize { get; set; } = "832x480";
    /// <summary>Frames of a training clip (1 + 4k; APT: 49 = 2 s at 24 fps).</summary>
    public int VideoFrames { get; set; } = 49;

    /// <summary>The teacher's CFG negative prompt in the CD stage (Wan's standard one).</summary>
    public string NegativePrompt { get; set; } = WanNegativePrompts.Default;
    /// <summary>The negative prompt's umT5 output, precomputed: a safetensors file with "context" [L, 4096]; replaces the text encoder.</summary>
    public string NegativeContext { get; set; } = "";
    /// <summary>umT5-XXL weights (models_t5_umt5-xxl-enc-bf16.pth or safetensors) and tokenizer (default: google/umt5-xxl
    /// beside the weights) that encode <see cref="NegativePrompt"/> once.</summary>
    public string TextEncoderPath { get; set; } = "";
    public string TokenizerPath { get; set; } = "";

    /// <summary>Where the CD stage's negative comes from.</summary>
    public Experiments.NegativeSource Negative() => new("wan", NegativePrompt, NegativeContext, TextEncoderPath, TokenizerPath);

    /// <summary>The CD stage (apt.student empty) needs negative_context or text_encoder_path.</summary>
    public void ValidateNegative(string key, string? file)
    {
        if (string.IsNullOrWhiteSpace(NegativeContext) && string.IsNullOrWhiteSpace(TextEncoderPath))
            throw ConfigException.For(file, key + ".negative_context", "an empty apt.student makes the run distil its own CD student: give " +
                "negative_context (a safetensors file with the negative prompt's umT5 \"context\") or text_encoder_path (umT5-XXL) to encode negative_prompt");
    }

    public ScalarType ModelDtype() => Dtype switch
    {
        "float32" => ScalarType.Float32, "bfloat16" => ScalarType.BFloat16, "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"wan.dtype '{Dtype}' is not float32, bfloat16 or float16"),
    };

    /// <summary>The preset's architecture, or null without a preset.</summary>
    public WanConfig? Architecture() => Preset switch
    {
        "" => null,
        "t2v-1.3b" => WanConfig.T2V_1_3B,
        "t2v-14b" => WanConfig.T2V_14B,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"wan.preset '{Preset}' is not t2v-1.3b, t2v-14b or tiny"),
    };

    /// <summary>The tiny preset: Wan 2.1's T2V structure (4 blocks of width 64, 2 heads, text_len 8).</summary>
    public static readonly WanConfig Tiny = WanConfig.TinyT2V with { NumLayers = 4, TextLen = 8 };

    /// <summary>(width, height) of a "WxH" string.</summary>
    public static (int W, int H) ParseSize(string s, string key, string? file)
    {
        var p = s.Split('x');
        if (p.Length != 2 || !int.TryParse(p[0], out int w) || !int.TryParse(p[1], out int h) || w % 16 != 0 || h % 16 != 0 || w < 16 || h < 16)
            throw ConfigException.For(file, key, $"'{s}' is not WIDTHxHEIGHT with multiples of 16");
        return (w, h);
    }

    /// <summary>The latent shape [16, f, h, w] a phase's cache must hold.</summary>
    public long[] LatentShape(bool video)
    {
        var (w, h) = ParseSize(video ? VideoSize : ImageSize, video ? "wan.video_size" : "wan.image_size", null);
        return [16, video ? 1 + (VideoFrames - 1) / 4 : 1, h / 8, w / 8];
    }

    public void Validate(string key, string? file)
    {
        if (RandomWeights)
        {
            if (Preset.Length == 0) throw ConfigException.For(file, key + ".preset", "random_weights needs the architecture (tiny, t2v-1.3b or t2v-14b)");
            if (RandomSamples < 1) throw ConfigException.For(file, key + ".random_samples", "must be >= 1");
        }
        else
        {
            if (string.IsNullOrWhiteSpace(Checkpoint)) throw ConfigException.For(file, key + ".checkpoint", "names the Wan 2.1 DiT (file or folder)");
            if (string.IsNullOrWhiteSpace(ImageData) && string.IsNullOrWhiteSpace(VideoData))
                throw ConfigException.For(file, key, "image_data and/or video_data (LatentCache folders) are needed");
        }
        try { ModelDtype(); } catch (ArgumentException e) { throw ConfigException.For(file, key + ".dtype", e.Message); }
        try { Architecture(); } catch (ArgumentException e) { throw ConfigException.For(file, key + ".preset", e.Message); }
        ParseSize(ImageSize, key + ".image_size", file);
        ParseSize(VideoSize, key + ".video_size", file);
        if (VideoFrames < 1 || (VideoFrames - 1) % 4 != 0) throw ConfigException.For(file, key + ".video_frames", $"{VideoFrames} is not 1 + 4k");
    }
}
