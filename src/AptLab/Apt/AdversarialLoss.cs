namespace AptLab.Apt;

/// <summary>
/// The non-saturating GAN objectives of APT written with softplus (docs/apt.md#losses), and the approximated
/// R1 / R2 penalties (5.6): lambda * mean over the batch of (D(x) - D(x + n))^2 with n ~ N(0, std^2 I).
/// All inputs are logits [B].
/// </summary>
public static class AdversarialLoss
{
    /// <summary>L_D = mean softplus(-r) + mean softplus(f).</summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor fakeLogits)
    {
        using var scope = torch.NewScope();
        return scope.Keep(F.softplus(-realLogits).mean() + F.softplus(fakeLogits).mean());
    }

    /// <summary>L_G = mean softplus(-f).</summary>
    public static Tensor Generator(Tensor fakeLogits)
    {
        using var scope = torch.NewScope();
        return scope.Keep(F.softplus(-fakeLogits).mean());
    }

    /// <summary>mean((D(x) - D(x + n))^2): the approximated R1 (on real data) or R2 (on fake data), before lambda.
    /// Gradient flows through both terms.</summary>
    public static Tensor ApproximatedPenalty(Tensor logits, Tensor perturbedLogits)
    {
        using var scope = torch.NewScope();
        return scope.Keep((logits - perturbedLogits).square().mean());
    }

    /// <summary>The noise std of the approximated R1: the paper writes N(x, sigma I) ("small variance sigma");
    /// <see cref="R1NoiseReading.Variance"/> reads sigma as the variance (std = sqrt sigma, the literal
    /// reading), <see cref="R1NoiseReading.Std"/> as the std (what public re-implementations do).</summary>
    public static double NoiseStd(double sigma, R1NoiseReading reading) =>
        reading == R1NoiseReading.Variance ? Math.Sqrt(sigma) : sigma;
}

public enum R1NoiseReading { Variance, Std }
