namespace AptLab.Diffusion;

/// <summary>
/// A flow-matching sampler (docs/flow-matching.md#samplers): a schedule of noise levels sigma_0 &gt; ... &gt; sigma_N
/// (sigma_N = 0) and a rule that moves the sample from sigma_i to sigma_{i+1} given the (guided) velocity at step i.
/// Steps are addressed by their index; the only timestep on this interface is <see cref="ModelTimestep"/>, the value
/// Wan's DiT receives. <see cref="FlowSampling.Sample"/> is the denoising loop that drives every sampler.
/// </summary>
public interface ISampler
{
    /// <summary>Builds the schedule for <paramref name="steps"/> steps with the shift warp
    /// <c>sigma' = shift sigma / (1 + (shift - 1) sigma)</c> and resets any multistep state.</summary>
    void SetTimesteps(int steps, double shift);

    /// <summary>Number of steps N of the schedule.</summary>
    int Steps { get; }

    /// <summary>The noise levels: N + 1 float32 values, the last being the final level (0).</summary>
    IReadOnlyList<float> Sigmas { get; }

    /// <summary>The timestep Wan's DiT is given at step <paramref name="index"/>: <c>1000 sigma_i</c> as this scheduler
    /// rounds it (UniPC: int-truncated; OmniAvatar's Euler: optionally rounded to bf16).</summary>
    double ModelTimestep(int index);

    /// <summary>One step from <paramref name="sample"/> at sigma_index to sigma_{index+1}, given the (guided) model
    /// velocity there. Steps run in order. Returns a new tensor; the inputs are not modified.</summary>
    Tensor Step(Tensor velocity, int index, Tensor sample);

    /// <summary>Forgets the multistep history (keeps the schedule) so a new trajectory can start.</summary>
    void Reset();
}
