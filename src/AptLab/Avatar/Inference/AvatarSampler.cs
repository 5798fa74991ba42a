using AptLab.Diffusion;
using AptLab.Wan;

namespace AptLab.Avatar.Inference;

/// <summary>Settings of one OmniAvatar denoising run (<c>log_video</c>, docs/omniavatar.md#sampling, docs/omniavatar.md#teacache).</summary>
public sealed record AvatarSamplingOptions
{
    public int NumSteps { get; init; } = 50;
    /// <summary>Text CFG scale (<c>guidance_scale</c>, 4.5).</summary>
    public double GuidanceScale { get; init; } = 4.5;
    /// <summary>Audio CFG scale (<c>audio_scale</c>); null = the same as <see cref="GuidanceScale"/> (2 passes).</summary>
    public double? AudioScale { get; init; }
    /// <summary>Sigma shift of the FlowMatchScheduler (5, hard-coded upstream).</summary>
    public double Shift { get; init; } = 5;
    /// <summary>Feed the DiT bf16-rounded timesteps (1000, 996, 992, ..., upstream's bf16 pipeline).</summary>
    public bool BFloat16Timesteps { get; init; } = true;
    /// <summary>TeaCache threshold; 0 = off (no cache objects, as upstream).</summary>
    public double TeaCacheThreshold { get; init; }
    /// <summary>TeaCache coefficients; upstream always passes the 14B ones.</summary>
    public string TeaCacheModelId { get; init; } = "Wan2.1-T2V-14B";

    public int Passes => AvatarGuidance.Passes(GuidanceScale, AudioScale);

    public AvatarSamplingOptions Validate()
    {
        if (NumSteps < 1) throw new ArgumentException($"num_steps must be >= 1, got {NumSteps}");
        if (!(Shift > 0)) throw new ArgumentException($"shift must be positive, got {Shift}");
        if (TeaCacheThreshold < 0) throw new ArgumentException($"tea_cache_l1_thresh must be >= 0, got {TeaCacheThreshold}");
        if (!TeaCache.Coefficients.ContainsKey(TeaCacheModelId)) throw new ArgumentException($"unknown TeaCache model id '{TeaCacheModelId}'");
        return this;
    }
}

/// <summary>The result of one denoising run: the final latents and how often TeaCache skipped the blocks.</summary>
public sealed record AvatarSample(Tensor Latents, int ModelCalls, int SkippedCalls);

/// <summary>
/// OmniAvatar's <c>log_video</c> loop (docs/omniavatar.md#sampling) for one chunk. Per step i: (1) the first
/// <c>fixedFrames</c> latent frames are overwritten with the clean prefix; (2) the DiT sees the bf16-rounded
/// timestep; (3) 1, 2 or 3 passes combined by <see cref="AvatarGuidance"/>; (4) Euler step on the float32 sigma grid.
/// The prefix is overwritten once more after the last step. The audio terms are computed once per chunk for the
/// real and the zero audio (they do not depend on the timestep).
/// </summary>
public static class AvatarSampler
{
    /// <param name="model">the DiT (eval, no grad)</param>
    /// <param name="lat">[B, 16, T, h, w] clean prefix latents in the first <paramref name="fixedFrames"/> frames (rest ignored)</param>
    /// <param name="fixedFrames">latent frames kept clean (1 in the first chunk, 4 later with overlap 13)</param>
    /// <param name="y">[B, 17, T, h, w] reference latent + mask</param>
    /// <param name="audio">[B, 4T − 3, C] audio features of the chunk</param>
    /// <param name="context">[B, Lt, text_dim] positive text</param>
    /// <param name="negativeContext">[B, Lt', text_dim] negative text (needed unless guidance_scale = 1)</param>
    /// <param name="noise">[B, 16, T, h, w] initial latents, or null to draw them from <paramref name="generator"/></param>
    /// <param name="onStep">called after each step with (step, numSteps)</param>
    public static AvatarSample Sample(OmniAvatarModel model, Tensor lat, int fixedFrames, Tensor y, Tensor audio, Tensor context,
        Tensor? negativeContext, AvatarSamplingOptions options, Generator? generator = null, Tensor? noise = null,
        Action<int, int>? onStep = null)
    {
        options.Validate();
        int passes = options.Passes;
        if (passes > 1 && negativeContext is null)
            throw new ArgumentException($"guidance_scale {options.GuidanceScale} needs a negative prompt context ({passes} passes)");
        if (fixedFrames < 0 || fixedFrames > lat.size(2))
            throw new ArgumentException($"fixed frames {fixedFrames} must be in [0, {lat.size(2)}] latent frames");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var scheduler = FlowMatchScheduler.Wan(options.BFloat16Timesteps);
        scheduler.SetTimesteps(options.NumSteps, options.Shift);

        var start = noise ?? torch.randn(lat.shape, lat.dtype, lat.device, generator);   // [B, 16, T, h, w]
        var audioPos = model.AudioConditioning(audio);                           // [B, K, T, dim]
        var audioZero = passes > 1 ? model.AudioConditioning(torch.zeros_like(audio)) : null;
        bool cache = options.TeaCacheThreshold > 0;
        using var posi = cache ? new TeaCache(options.NumSteps, options.TeaCacheThreshold, options.TeaCacheModelId) : null;
        using var nega = cache ? new TeaCache(options.NumSteps, options.TeaCacheThreshold, options.TeaCacheModelId) : null;
        int calls = 0;
        var latents = FlowSampling.Sample(scheduler, start, (i, x) =>
        {
            if (fixedFrames > 0) x.narrow(2, 0, fixedFrames).copy_(lat.narrow(2, 0, fixedFrames));
            var tau = torch.tensor([(float)scheduler.ModelTimestep(i)], 1).to(x.device);   // [1] bf16-rounded value
            var pos = model.forward_with_audio_terms(x, tau, context, y, audioPos, posi).Output;
            Tensor v;
            if (passes == 1) v = pos;
            else if (passes == 2)
            {
                var neg = model.forward_with_audio_terms(x, tau, negativeContext!, y, audioZero, nega).Output;
                v = FlowMatch.Cfg(neg, pos, options.GuidanceScale);
            }
            else
            {
                // upstream gives the audio-negative pass a fresh cache at every step: it is never skipped
                var audioNeg = model.forward_with_audio_terms(x, tau, context, y, audioZero, null).Output;
                var textNeg = model.forward_with_audio_terms(x, tau, negativeContext!, y, audioZero, nega).Output;
                v = AvatarGuidance.Combine3(pos, audioNeg, textNeg, options.GuidanceScale, options.AudioScale!.Value);
            }
            calls += passes;
            return v.to(x.dtype);
        }, (done, _) => onStep?.Invoke(done, options.NumSteps));
        if (fixedFrames > 0) latents.narrow(2, 0, fixedFrames).copy_(lat.narrow(2, 0, fixedFrames));
        int skipped = (posi?.Skipped ?? 0) + (nega?.Skipped ?? 0);
        return new AvatarSample(scope.Keep(latents), calls, skipped);
    }
}
