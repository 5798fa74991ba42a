namespace AptLab.Apt;

/// <summary>
/// Multi-step Euler sampling of a flow model with classifier-free guidance: sigmas = shift(linspace(1, 0, n + 1), s),
/// x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (v_neg + w (v_pos - v_neg)). 2 NFE per step with guidance, 1 without.
/// </summary>
public static class TeacherSampler
{
    public static Tensor Sample(FlowModel model, Tensor z, Conditioning c, Conditioning? negative, int steps, double shift, double guidance)
    {
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        long b = z.size(0);
        var x = z;
        for (int i = 0; i < steps; i++)
        {
            using var step = torch.NewScope();
            double s0 = TimestepShift.Apply(1 - (double)i / steps, shift), s1 = TimestepShift.Apply(1 - (double)(i + 1) / steps, shift);
            var sigma = torch.full([b], s0, device: z.device);
            var v = negative is null || guidance == 1
                ? model.Velocity(x, sigma, c)
                : ConsistencyDistillation.CfgVelocity(model, x, sigma, c, negative, guidance);
            x = step.Keep(x + v * (s1 - s0));
        }
        return scope.Keep(x);
    }

    /// <summary>Network evaluations of <see cref="Sample"/>.</summary>
    public static int Nfe(int steps, double guidance, bool hasNegative) => steps * (hasNegative && guidance != 1 ? 2 : 1);
}
