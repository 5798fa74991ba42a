namespace AptLab.Tests.Wan.Text;

/// <summary>Relative error ||a - b|| / ||b|| over whole tensors, computed in float64.</summary>
internal static class RefCompare
{
    public static double RelErr(Tensor actual, Tensor expected)
    {
        using var _ = torch.NewScope();
        Assert.Equal(expected.shape, actual.shape);
        var a = actual.to(ScalarType.Float64);
        var e = expected.to(ScalarType.Float64);
        double den = e.norm().item<double>();
        double num = (a - e).norm().item<double>();
        return den == 0 ? num : num / den;
    }
}
