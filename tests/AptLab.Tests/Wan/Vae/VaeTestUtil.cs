namespace AptLab.Tests.Wan.Vae;

internal static class VaeTestUtil
{
    /// <summary>||a − b|| / ||b|| in float64 over the full tensors (shapes must match).</summary>
    public static double RelErr(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        using var scope = torch.NewScope();
        var a64 = a.to(ScalarType.Float64);
        var b64 = b.to(ScalarType.Float64);
        double den = b64.norm().item<double>();
        double num = (a64 - b64).norm().item<double>();
        return den == 0 ? num : num / den;
    }

    /// <summary>Deterministic re-initialisation of every parameter: weights N(0, 1/fan_in), biases U(-0.1, 0.1),
    /// norm gammas U(0.75, 1.25), as the reference cases do (so attention proj is not zero).</summary>
    public static void Randomize(AptLab.Torch.nn.Module m, ulong seed)
    {
        using var g = new Generator(seed);
        AptLab.Torch.nn.init.nontrivial_(m, g);
    }
}
