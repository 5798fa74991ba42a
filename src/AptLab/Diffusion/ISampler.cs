namespace AptLab.Diffusion;

/// <summary>
/// A flow-matching sampler as the pipelines drive it (spec wan21 §7): set a schedule, then for each
/// <see cref="Timesteps"/> entry call the model and <see cref="Step"/>.
/// <code>
/// sampler.SetTimesteps(50, shift: 5.0);
/// for (int i = 0; i &lt; sampler.Timesteps.Count; i++)
/// {
///     using var step = torch.NewScope();
///     var v = Cfg.Combine(model(x, sampler.ModelTimestep(i), ctxNull), model(x, sampler.ModelTimestep(i), ctx), 5.0);
///     x = step.Keep(sampler.Step(v, sampler.Timesteps[i], x));
/// }
/// </code>
/// Model outputs are flow velocities <c>v = noise - x0</c>; sigma runs from about 1 (noise) down to 0.
/// </summary>
public interface ISampler
{
    /// <summary>Builds the schedule for <paramref name="steps"/> steps with the shift warp
    /// <c>sigma' = shift*sigma / (1 + (shift-1)*sigma)</c> and resets any multistep state.</summary>
    void SetTimesteps(int steps, double shift);

    /// <summary>The timesteps <c>t_k</c> (1000-scale) in sampling order; <see cref="Step"/> takes these values.</summary>
    IReadOnlyList<double> Timesteps { get; }

    /// <summary>The noise levels: <c>Timesteps.Count + 1</c> float32 values, the last being the final level (0).</summary>
    IReadOnlyList<float> Sigmas { get; }

    /// <summary>The value the model is given at step <paramref name="index"/> (Wan UniPC: the int-truncated
    /// timestep; OmniAvatar: optionally rounded to bf16). Defaults to <c>Timesteps[index]</c>.</summary>
    double ModelTimestep(int index) => Timesteps[index];

    /// <summary>One step from <paramref name="sample"/> at timestep <paramref name="t"/> to the next noise level,
    /// given the (guided) model output. Returns a new tensor; the inputs are not modified.</summary>
    Tensor Step(Tensor modelOutput, double t, Tensor sample);

    /// <summary>Forgets the multistep history (keeps the schedule) so a new trajectory can start.</summary>
    void Reset();
}
