namespace AptLab.Diffusion;

/// <summary>The output of a diffusion transformer's batched forward: the prediction and the requested hidden states.</summary>
/// <param name="Output">[B, C, F, H, W] predicted flow velocity (null when only hidden states were asked for).</param>
/// <param name="Hidden">[B, S, dim] residual stream after each requested block, in the requested order.</param>
public sealed record DiTOutput(Tensor Output, IReadOnlyList<Tensor> Hidden);
