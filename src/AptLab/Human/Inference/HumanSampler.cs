using AptLab.Diffusion;

namespace AptLab.Human.Inference;

/// <summary>
/// Denoises one OmniHuman segment (docs/omnihuman.md#inference): Wan's Euler flow-matching scheduler (shift s, N steps,
/// docs/flow-matching.md#euler) over <see cref="FlowSampling"/>; at step k the branches of <see cref="HumanGuidance"/>
/// run as ONE batched forward (their conditions stacked) and are combined with the annealed scales. "No text" is an
/// all-zero context (as in training's dropout), "no audio" the audio switched off; reference, motion frames and pose
/// are the same in every branch; the pose guider runs once (the features do not depend on the step).
/// </summary>
public static class HumanSampler
{
    /// <param name="model">the DiT (eval)</param>
    /// <param name="noise">[B, 16, F, h, w] the start at σ = 1</param>
    /// <param name="context">[B, Lt, text_dim] the prompts' contexts</param>
    /// <param name="c">the other conditions of the segment (audio present = audio-driven)</param>
    /// <param name="onStep">called after each step with (step, steps)</param>
    public static Tensor Sample(OmniHumanModel model, Tensor noise, Tensor context, HumanConditions c, HumanGuidance guidance,
        int steps, double shift, Action<int, int>? onStep = null)
    {
        guidance.Validate();
        if (steps < 1) throw new ArgumentException($"steps must be >= 1, got {steps}");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        bool audio = c.Audio is not null && (c.AudioOn is null || c.AudioOn.sum().item<float>() > 0);
        var branches = guidance.Branches(audio);
        var scheduler = FlowMatchScheduler.Wan();
        scheduler.SetTimesteps(steps, shift);
        // the branches stacked on the batch: contexts (zero = no text) and conditions (audio switched per branch)
        var ctx = torch.cat(branches.Select(b => b.Text ? context : torch.zeros_like(context)).ToList(), 0);
        var conds = branches.Select(b => b.Audio ? c : c.WithoutAudio()).Aggregate(HumanConditions.Cat);
        int n = branches.Count;
        long b = noise.size(0);
        if (conds.Pose is not null && conds.PoseFeatures is null)                              // the guider once, not at every step
            conds = conds with { PoseFeatures = model.PoseFeatures(conds, torch.cat(Enumerable.Repeat(noise, n).ToList(), 0).to(model.Dtype)) };
        var x = FlowSampling.Sample(scheduler, noise, (i, xi) =>
        {
            var t = torch.full([n * b], scheduler.ModelTimestep(i), ScalarType.Float32, xi.device);
            var v = model.Forward(torch.cat(Enumerable.Repeat(xi, n).ToList(), 0).to(model.Dtype), t, ctx, conds).Output.to(xi.dtype);   // [n·B, 16, F, h, w]
            return guidance.Combine(Enumerable.Range(0, n).Select(j => v.narrow(0, j * b, b)).ToList(), audio, i, steps);
        }, (done, _) => onStep?.Invoke(done, steps));
        return scope.Keep(x);
    }
}
