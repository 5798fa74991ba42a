using AptLab.Diffusion;

namespace AptLab.Wan.Pipelines;

/// <summary>The two samplers a pipeline can run: Wan's default UniPC multistep solver (docs/flow-matching.md#unipc) or
/// DiffSynth's Euler flow-matching step (docs/flow-matching.md#schedules).</summary>
public enum WanSamplerKind { UniPC, Euler }

/// <summary>
/// What to sample (docs/wan-dit.md#pipelines): the prompts, the video size (frames 1 + 4k; height and width multiples of 16,
/// i.e. VAE stride 8 × patch 2), the schedule (steps, shift), classifier-free guidance and the noise seed.
/// <see cref="NegativePrompt"/> null means the pipeline's official default (Wan's shared negative prompt for T2V,
/// "镜头晃动，" + it for I2V); pass "" for the empty prompt.
/// </summary>
public sealed record WanSampleSettings
{
    public required string Prompt { get; init; }
    public string? NegativePrompt { get; init; }
    /// <summary>Pixel frames F = 1 + 4k (official: 81).</summary>
    public int Frames { get; init; } = 81;
    public int Height { get; init; } = 480;
    public int Width { get; init; } = 832;
    /// <summary>Denoising steps (official T2V: 50, I2V: 40).</summary>
    public int Steps { get; init; } = 50;
    /// <summary>Shift of the sigma schedule (official T2V: 5).</summary>
    public double Shift { get; init; } = 5.0;
    /// <summary>Guidance scale g of v = v_u + g (v_c − v_u) (official: 5).</summary>
    public double Guide { get; init; } = 5.0;
    public ulong Seed { get; init; }
    public WanSamplerKind Sampler { get; init; } = WanSamplerKind.UniPC;

    /// <summary>The official T2V defaults (50 UniPC steps, shift 5, guide 5, 81 frames at 832×480).</summary>
    public static WanSampleSettings T2VDefaults(string prompt) => new() { Prompt = prompt };

    /// <summary>The official I2V defaults (docs/flow-matching.md#schedules): 40 steps, shift 3 at 480p (area ≤ 832·480), else 5.</summary>
    public static WanSampleSettings I2VDefaults(string prompt, int width = 832, int height = 480) => new()
    {
        Prompt = prompt, Width = width, Height = height, Steps = 40,
        Shift = (long)width * height <= 832 * 480 ? 3.0 : 5.0,
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public WanSampleSettings Validate(int sizeMultiple = 16, int temporalFactor = 4)
    {
        if (Prompt is null) throw new ArgumentException("sample settings: prompt must not be null");
        if (Frames < 1 || (Frames - 1) % temporalFactor != 0)
            throw new ArgumentException($"sample settings: frames = {Frames} must be 1 + {temporalFactor}k (1, {1 + temporalFactor}, {1 + 2 * temporalFactor}, ..., 81)");
        if (Height <= 0 || Height % sizeMultiple != 0)
            throw new ArgumentException($"sample settings: height = {Height} must be a positive multiple of {sizeMultiple} (VAE stride 8 × patch 2)");
        if (Width <= 0 || Width % sizeMultiple != 0)
            throw new ArgumentException($"sample settings: width = {Width} must be a positive multiple of {sizeMultiple} (VAE stride 8 × patch 2)");
        if (Steps < 1) throw new ArgumentException($"sample settings: steps = {Steps} must be at least 1");
        if (!(Shift > 0) || double.IsInfinity(Shift)) throw new ArgumentException($"sample settings: shift = {Shift} must be positive");
        if (double.IsNaN(Guide) || double.IsInfinity(Guide)) throw new ArgumentException($"sample settings: guide = {Guide} must be finite");
        return this;
    }

    /// <summary>A fresh sampler of <see cref="Sampler"/> with the schedule for <see cref="Steps"/> and <see cref="Shift"/>.</summary>
    public ISampler CreateSampler()
    {
        ISampler s = Sampler switch
        {
            WanSamplerKind.UniPC => new FlowUniPCMultistepScheduler(),
            WanSamplerKind.Euler => FlowMatchScheduler.Wan(),
            _ => throw new ArgumentException($"sample settings: unknown sampler {Sampler}"),
        };
        s.SetTimesteps(Steps, Shift);
        return s;
    }

    /// <summary>"unipc" or "euler" (case-insensitive) → the sampler kind; anything else is an error naming it.</summary>
    public static WanSamplerKind ParseSampler(string name) => name.Trim().ToLowerInvariant() switch
    {
        "unipc" => WanSamplerKind.UniPC,
        "euler" => WanSamplerKind.Euler,
        _ => throw new ArgumentException($"sampler '{name}' is not one of: unipc, euler"),
    };

    /// <summary>Parses "WxH" (e.g. 832x480 or 832*480) into (width, height).</summary>
    public static (int Width, int Height) ParseSize(string size)
    {
        var parts = size.Trim().ToLowerInvariant().Split('x', '*', '×');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h) || w <= 0 || h <= 0)
            throw new ArgumentException($"size '{size}' is not WIDTHxHEIGHT with positive integers (e.g. 832x480)");
        return (w, h);
    }
}

/// <summary>Progress of a pipeline call: <see cref="Phase"/> is "text", "encode" (I2V image), "denoise" or
/// "decode"; during "denoise" <see cref="Step"/> of <see cref="Total"/> steps is done, at model timestep
/// <see cref="Timestep"/>.</summary>
public readonly record struct WanSampleProgress(string Phase, int Step, int Total, double Timestep, TimeSpan Elapsed);
