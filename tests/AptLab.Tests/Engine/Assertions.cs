namespace AptLab.Tests;

/// <summary>Numeric assertions on tensors.</summary>
public static class TensorAssert
{
    /// <summary>Elementwise |a - b| <= atol + rtol |b|, reporting the worst element.</summary>
    public static void Close(double[] expected, Tensor actual, double atol = 1e-5, double rtol = 1e-5)
    {
        using var f = actual.to(ScalarType.Float64);
        var got = f.data<double>();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= atol + rtol * Math.Abs(expected[i]),
                $"element {i}: expected {expected[i]}, got {got[i]}");
    }

    public static void Close(Tensor expected, Tensor actual, double atol = 1e-5, double rtol = 1e-5)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var e = expected.to(ScalarType.Float64);
        Close(e.data<double>(), actual, atol, rtol);
    }

    /// <summary>||actual - expected|| / ||expected|| on the full tensors.</summary>
    public static double RelativeError(Tensor expected, Tensor actual)
    {
        using var scope = torch.NewScope();
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.to(ScalarType.Float64);
        var a = actual.to(ScalarType.Float64);
        return (a - e).norm().item<double>() / Math.Max(e.norm().item<double>(), 1e-30);
    }
}
