namespace AptLab.Diffusion;

/// <summary>
/// Flow-matching conventions shared by all Wan code (spec wan21 §7.1): noise level sigma in [0, 1], timestep
/// t = 1000 sigma, <c>x_sigma = (1 - sigma) x0 + sigma eps</c>, model output and training target the velocity
/// <c>v = eps - x0</c>.
/// </summary>
public static class FlowMatch
{
    /// <summary>The shift warp <c>shift*sigma / (1 + (shift-1)*sigma)</c> (float64).</summary>
    public static double Shift(double sigma, double shift) => shift * sigma / (1 + (shift - 1) * sigma);

    /// <summary><c>(1 - sigma) x0 + sigma noise</c>.</summary>
    public static Tensor AddNoise(Tensor x0, Tensor noise, double sigma)
    {
        using var scope = torch.NewScope();
        float s = (float)sigma;
        return scope.Keep(x0 * (double)(1f - s) + noise * (double)s);
    }

    /// <summary>Per-sample noise levels: x0, noise [B, ...], sigma [B].</summary>
    public static Tensor AddNoise(Tensor x0, Tensor noise, Tensor sigma)
    {
        using var scope = torch.NewScope();
        var s = sigma.to(x0.dtype).view([sigma.size(0), .. Enumerable.Repeat(1L, x0.dim() - 1)]);   // [B, 1, ...]
        return scope.Keep((1.0 - s) * x0 + s * noise);
    }

    /// <summary>The training target (velocity) <c>noise - x0</c>.</summary>
    public static Tensor VelocityTarget(Tensor x0, Tensor noise) => noise - x0;

    /// <summary><c>x0 = x_sigma - sigma v</c>.</summary>
    public static Tensor X0FromVelocity(Tensor sample, Tensor velocity, double sigma) => sample - velocity * sigma;

    /// <summary><c>eps = x_sigma + (1 - sigma) v</c>.</summary>
    public static Tensor NoiseFromVelocity(Tensor sample, Tensor velocity, double sigma) => sample + velocity * (1 - sigma);

    /// <summary>Euler step <c>x + (sigmaNext - sigma) v</c>, with the difference taken in float32 as the official
    /// schedulers do.</summary>
    public static Tensor EulerStep(Tensor sample, Tensor velocity, float sigma, float sigmaNext)
    {
        using var scope = torch.NewScope();
        return scope.Keep(sample + velocity * (double)(sigmaNext - sigma));
    }

    /// <summary>Rounds to the nearest bfloat16 (ties to even), as a bf16 cast of a float32 value does: OmniAvatar
    /// and DiffSynth feed the DiT bf16 timesteps (1000, 996, 992, ... for 50 steps at shift 5).</summary>
    public static double RoundToBFloat16(double value)
    {
        float f = (float)value;
        if (float.IsNaN(f)) return double.NaN;
        uint bits = BitConverter.SingleToUInt32Bits(f);
        uint rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
        return BitConverter.UInt32BitsToSingle(rounded);
    }
}
