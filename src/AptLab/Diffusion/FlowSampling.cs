namespace AptLab.Diffusion;

/// <summary>
/// The denoising loop, once (docs/flow-matching.md#samplers): for i = 0..N-1,
/// <c>x = sampler.Step(velocity(i, x), i, x)</c>. The caller's velocity function calls the model (at
/// <see cref="ISampler.ModelTimestep"/> or sigma_i) and combines guidance; the sampler owns the schedule and the step
/// rule (Euler or UniPC). Used by the Wan pipelines, OmniAvatar's sampler and APT's teacher sampling.
/// </summary>
public static class FlowSampling
{
    /// <param name="sampler">a sampler whose schedule is set; it is reset before and after the run</param>
    /// <param name="noise">x at sigma_0 [B, C, F, H, W] (or any shape the velocity function takes); not modified</param>
    /// <param name="velocity">(step index, current x) -> the guided velocity at sigma_index, shaped like x. It may
    /// overwrite parts of x in place before computing (e.g. clean prefix frames).</param>
    /// <param name="afterStep">called with (steps done, x) after each step</param>
    /// <returns>x at the final level (a new tensor)</returns>
    public static Tensor Sample(ISampler sampler, Tensor noise, Func<int, Tensor, Tensor> velocity, Action<int, Tensor>? afterStep = null)
    {
        using var scope = torch.NewScope();
        sampler.Reset();
        var x = noise.clone();
        for (int i = 0; i < sampler.Steps; i++)
        {
            Tensor next;
            using (var step = torch.NewScope())
                next = step.Keep(sampler.Step(velocity(i, x), i, x));
            x.Dispose();                                                         // no per-step growth
            x = next;
            afterStep?.Invoke(i + 1, x);
        }
        sampler.Reset();                                                         // frees a multistep history now, not at GC
        return scope.Keep(x);
    }
}
