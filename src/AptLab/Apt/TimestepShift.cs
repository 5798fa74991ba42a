namespace AptLab.Apt;

/// <summary>
/// The timestep shift shared by Wan sampling and APT: shift(t, s) = s t / (1 + (s - 1) t) on t in [0, 1]
/// (apt.md section 2). shift(0, s) = 0, shift(1, s) = 1; s > 1 moves mass toward t = 1 (more noise).
/// The input must lie in [0, 1]: feeding a 0..1000 timestep is the bug E3 of apt.md section 11.6.
/// </summary>
public static class TimestepShift
{
    public static double Apply(double t, double s)
    {
        if (t < 0 || t > 1 || double.IsNaN(t)) throw new ArgumentOutOfRangeException(nameof(t), t, "shift expects t in [0, 1]");
        if (s <= 0) throw new ArgumentOutOfRangeException(nameof(s), s, "shift factor must be positive");
        return s * t / (1 + (s - 1) * t);
    }

    /// <summary>Elementwise on a tensor of t in [0, 1].</summary>
    public static Tensor Apply(Tensor t, double s)
    {
        using var scope = torch.NewScope();
        return scope.Keep(t * s / ((t * (s - 1)) + 1.0));
    }

    /// <summary>t = shift(u, s) with u ~ U(0, 1), one per sample: [batch].</summary>
    public static Tensor Sample(long batch, double s, Generator? g = null, Device? device = null)
    {
        using var scope = torch.NewScope();
        return scope.Keep(Apply(torch.rand([batch], generator: g, device: device), s));
    }
}
