namespace AptLab.Wan;

/// <summary>The sinusoidal timestep embedding (docs/wan-dit.md#forward-pass): [cos(t·ω_j) | sin(t·ω_j)], ω_j = 10000^(−j/half),
/// computed in float64.</summary>
public static class WanSinusoid
{
    /// <summary>position: [B] (any numeric dtype) → [B, dim] float64.</summary>
    public static Tensor Embed(int dim, Tensor position)
    {
        if (dim % 2 != 0) throw new ArgumentException($"sinusoidal embedding width must be even, got {dim}");
        using var scope = torch.NewScope();
        int half = dim / 2;
        var pos = position.As(ScalarType.Float64).reshape(-1);                                 // [B]
        var omega = torch.pow(10000, -torch.arange(half, ScalarType.Float64, pos.device) / half); // [half]
        var sinusoid = pos.unsqueeze(1) * omega.unsqueeze(0);                                 // [B, half]
        return scope.Keep(torch.cat([sinusoid.cos(), sinusoid.sin()], 1));                   // [B, dim]
    }
}
