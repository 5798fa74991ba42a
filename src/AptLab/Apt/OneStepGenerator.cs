using AptLab.Diffusion;

namespace AptLab.Apt;

/// <summary>
/// The APT generator G(z, c) = z - v(z, sigma = 1, c): one forward, no CFG (docs/apt.md#generator), and the optional two-step
/// inference of section 6: x_mid = (1 - t_m) G(z) + t_m eps', x = x_mid - t_m v(x_mid, t_m), t_m = shift(0.5, s).
/// </summary>
public static class OneStepGenerator
{
    /// <param name="z">[B, C, F, H, W] standard normal noise</param>
    public static Tensor Generate(FlowModel model, Tensor z, Conditioning c)
    {
        using var scope = torch.NewScope();
        var sigma = torch.ones([z.size(0)], device: z.device);
        return scope.Keep(FlowMatch.X0(z, model.Velocity(z, sigma, c), 1.0));
    }

    public static Tensor GenerateTwoStep(FlowModel model, Tensor z, Conditioning c, Tensor secondNoise, double shift)
    {
        using var scope = torch.NewScope();
        double tm = FlowMatch.Shift(0.5, shift);
        var x1 = Generate(model, z, c);
        var mid = FlowMatch.AddNoise(x1, secondNoise, tm);
        var sigma = torch.full([z.size(0)], tm, device: z.device);
        return scope.Keep(FlowMatch.X0(mid, model.Velocity(mid, sigma, c), tm));
    }
}
