using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// The VAE's channel-first RMS norm (official <c>RMS_norm</c>): y = x / max(‖x‖₂ over channels, 1e-12) · √C · γ.
/// γ is <c>gamma [C, 1, 1, 1]</c> for video inputs [B, C, T, H, W] and <c>gamma [C, 1, 1]</c> for the
/// frame inputs [N, C, H, W] of the attention block. No bias.
/// </summary>
public sealed class VaeRmsNorm : Module<Tensor, Tensor>
{
    public readonly Parameter gamma;
    private readonly double scale;

    /// <param name="channels">C</param>
    /// <param name="images">true: gamma [C, 1, 1] for 4-D inputs; false: gamma [C, 1, 1, 1] for 5-D inputs</param>
    public VaeRmsNorm(long channels, bool images)
    {
        scale = Math.Sqrt(channels);
        gamma = RegisterParameter("gamma", images ? torch.ones(channels, 1, 1) : torch.ones(channels, 1, 1, 1));
    }

    // x: [B, C, *spatial]
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewScope();
        var norm = x.norm(2, [1], keepdim: true).clamp(min: 1e-12);   // [B, 1, *spatial]
        return scope.Keep(x / norm * scale * gamma);
    }
}
