namespace AptLab.Diffusion;

/// <summary>
/// The flow-matching math, once (docs/flow-matching.md): noise level sigma in [0, 1] (0 = data, 1 = noise),
/// <c>x_sigma = (1 - sigma) x0 + sigma eps</c>, the network predicts the velocity <c>v = eps - x0</c>, so
/// <c>x0 = x_sigma - sigma v</c>; the shift warp; classifier-free guidance; the Euler step. Everything inside AptLab
/// speaks sigma; Wan's DiT takes <c>t = 1000 sigma</c>, converted only by <see cref="Timestep(double, int)"/>.
/// </summary>
public static class FlowMatch
{
    /// <summary>Wan's training timesteps: the DiT's time input is <c>t = NumTrainTimesteps * sigma</c>.</summary>
    public const int NumTrainTimesteps = 1000;

    // ---- the time convention at the model boundary ----

    /// <summary>The DiT's timestep <c>t = n sigma</c> (float64; schedulers round it their own way).</summary>
    public static double Timestep(double sigma, int numTrainTimesteps = NumTrainTimesteps) => sigma * numTrainTimesteps;

    /// <summary>Elementwise <c>t = n sigma</c> in the tensor's dtype (Wan's float32 timestep input for float32 sigmas).</summary>
    public static Tensor Timestep(Tensor sigma, int numTrainTimesteps = NumTrainTimesteps) => sigma * (double)numTrainTimesteps;

    // ---- the shift warp ----

    /// <summary><c>shift(sigma, s) = s sigma / (1 + (s - 1) sigma)</c> in float64 (numpy's order of operations, so the
    /// official grids match exactly). shift(0) = 0, shift(1) = 1; s &gt; 1 moves mass toward sigma = 1 (more noise).
    /// The input must lie in [0, 1]: feeding a 0..1000 timestep is a classic bug (docs/apt.md#known-pitfalls).</summary>
    public static double Shift(double sigma, double shift)
    {
        if (sigma < 0 || sigma > 1 || double.IsNaN(sigma)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "shift expects sigma in [0, 1]");
        if (!(shift > 0)) throw new ArgumentOutOfRangeException(nameof(shift), shift, "shift factor must be positive");
        return shift * sigma / (1 + (shift - 1) * sigma);
    }

    /// <summary>Elementwise <see cref="Shift(double, double)"/> in the tensor's dtype.</summary>
    public static Tensor Shift(Tensor sigma, double shift)
    {
        using var scope = torch.NewScope();
        return scope.Keep(sigma * shift / ((sigma * (shift - 1)) + 1.0));
    }

    /// <summary>sigma = shift(u, s), u ~ U(0, 1), one per sample: [batch] float32.</summary>
    public static Tensor SampleSigmas(long batch, double shift, Generator? g = null, Device? device = null)
    {
        using var scope = torch.NewScope();
        return scope.Keep(Shift(torch.rand([batch], generator: g, device: device), shift));
    }

    // ---- noising and the velocity parameterisation ----

    /// <summary><c>(1 - sigma) x0 + sigma noise</c> for one noise level.</summary>
    public static Tensor AddNoise(Tensor x0, Tensor noise, double sigma)
    {
        using var scope = torch.NewScope();
        return scope.Keep(x0 * (1 - sigma) + noise * sigma);
    }

    /// <summary>Per-sample noise levels: x0, noise [B, ...], sigma [B] (1 - sigma taken in sigma's dtype).</summary>
    public static Tensor AddNoise(Tensor x0, Tensor noise, Tensor sigma)
    {
        using var scope = torch.NewScope();
        return scope.Keep(x0 * PerSample(1.0 - sigma, x0) + noise * PerSample(sigma, x0));
    }

    /// <summary>The training target, the velocity <c>v = noise - x0</c>.</summary>
    public static Tensor Velocity(Tensor x0, Tensor noise) => noise - x0;

    /// <summary><c>x0 = x_sigma - sigma v</c> (the consistency function of a flow model; the one-step generator at sigma 1).</summary>
    public static Tensor X0(Tensor sample, Tensor velocity, double sigma) => sample - velocity * sigma;

    /// <summary>Per-sample <c>x0 = x_sigma - sigma v</c>: sample, velocity [B, ...], sigma [B].</summary>
    public static Tensor X0(Tensor sample, Tensor velocity, Tensor sigma)
    {
        using var scope = torch.NewScope();
        return scope.Keep(sample - velocity * PerSample(sigma, sample));
    }

    // ---- guidance ----

    /// <summary>Classifier-free guidance <c>uncond + scale (cond - uncond)</c> (the official order of operations).</summary>
    public static Tensor Cfg(Tensor uncond, Tensor cond, double scale)
    {
        using var scope = torch.NewScope();
        return scope.Keep(uncond + (cond - uncond) * scale);
    }

    // ---- the Euler step ----

    /// <summary>Euler step of the flow ODE <c>x + (sigmaNext - sigma) v</c>. The difference is taken in float64 and
    /// applied in the tensor's dtype; for float32 grids (the official schedulers) that equals their float32 difference.</summary>
    public static Tensor EulerStep(Tensor sample, Tensor velocity, double sigma, double sigmaNext)
    {
        using var scope = torch.NewScope();
        return scope.Keep(sample + velocity * (sigmaNext - sigma));
    }

    /// <summary>Per-sample Euler step: sample, velocity [B, ...], sigma and sigmaNext [B] (the difference in their dtype).</summary>
    public static Tensor EulerStep(Tensor sample, Tensor velocity, Tensor sigma, Tensor sigmaNext)
    {
        using var scope = torch.NewScope();
        return scope.Keep(sample + velocity * PerSample(sigmaNext - sigma, sample));
    }

    /// <summary>[B] -> [B, 1, ..., 1] in <paramref name="like"/>'s dtype, for broadcasting against x [B, ...].</summary>
    public static Tensor PerSample(Tensor perSample, Tensor like) =>
        perSample.to(like.dtype).view([perSample.size(0), .. Enumerable.Repeat(1L, like.dim() - 1)]);

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
