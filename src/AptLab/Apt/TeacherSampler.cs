using AptLab.Diffusion;

namespace AptLab.Apt;

/// <summary>
/// Multi-step Euler sampling of a flow model with classifier-free guidance (<see cref="EulerSampler"/>: sigmas =
/// shift(1 - i/n, s), i = 0..n), x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (v_neg + w (v_pos - v_neg)). 2 NFE per step with
/// guidance, 1 without.
/// </summary>
public static class TeacherSampler
{
    public static Tensor Sample(FlowModel model, Tensor z, Conditioning c, Conditioning? negative, int steps, double shift, double guidance)
    {
        using var _ = torch.no_grad();
        long b = z.size(0);
        var sampler = new EulerSampler(steps, shift);
        return FlowSampling.Sample(sampler, z, (i, x) =>
        {
            var sigma = torch.full([b], sampler.SigmasFloat64[i], device: z.device);
            return negative is null || guidance == 1
                ? model.Velocity(x, sigma, c)
                : ConsistencyDistillation.CfgVelocity(model, x, sigma, c, negative, guidance);
        });
    }

    /// <summary>Network evaluations of <see cref="Sample"/>.</summary>
    public static int Nfe(int steps, double guidance, bool hasNegative) => steps * (hasNegative && guidance != 1 ? 2 : 1);
}
