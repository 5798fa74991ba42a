namespace AptLab.Wan;

/// <summary>
/// Wan's 3D rotary position embedding (docs/wan-dit.md#rope). The head_dim/2 complex pairs of every head are split over
/// the (frame, height, width) axes as (c − 2⌊c/3⌋, ⌊c/3⌋, ⌊c/3⌋); axis a uses its own base dimension
/// D_a = 2·pairs_a, θ_{a,j} = 1 / 10000^(2j / D_a). Pair i of a token at grid position (f, h, w) is rotated
/// by f·θ, h·θ or w·θ: adjacent channels (2i, 2i+1) form the complex number x[2i] + i·x[2i+1], multiplied
/// by e^{iφ}. Angles and their cos/sin are computed in float64 (as upstream), the product in the model's
/// float precision; padded tokens (index ≥ f·h·w) are not rotated.
/// </summary>
public static class WanRope
{
    /// <summary>Official tables cover positions 0..1023 per axis.</summary>
    public const int MaxPositions = 1024;

    /// <summary>θ_j = 1 / 10000^(2j / (2·pairs)), j = 0..pairs−1, in float64.</summary>
    public static double[] AxisFrequencies(int pairs, double theta = 10000)
    {
        int dim = 2 * pairs;
        var f = new double[pairs];
        for (int j = 0; j < pairs; j++) f[j] = 1.0 / Math.Pow(theta, (2.0 * j) / dim);
        return f;
    }

    /// <summary>
    /// The rotation factors e^{iφ} for a batch: complex [B, S, 1, head_dim/2] (or [1, S, 1, head_dim/2] when
    /// every sample has the same grid), complex128 for a float64 model and complex64 otherwise. Rows at or
    /// beyond a sample's f·h·w tokens are 1 (no rotation).
    /// </summary>
    public static Tensor Table(int headDim, IReadOnlyList<(int F, int H, int W)> grids, long seqLen,
        ScalarType realDtype, Device device)
    {
        using var scope = torch.NewScope();
        int c = headDim / 2;
        int cf = c - 2 * (c / 3), ch = c / 3, cw = c / 3;
        var distinct = grids.Distinct().ToList();
        var perGrid = new Dictionary<(int, int, int), Tensor>();
        foreach (var g in distinct)
        {
            if (g.F > MaxPositions || g.H > MaxPositions || g.W > MaxPositions)
                throw new ArgumentException($"RoPE: grid {g} exceeds {MaxPositions} positions per axis");
            long n = (long)g.F * g.H * g.W;
            if (n > seqLen) throw new ArgumentException($"RoPE: grid {g} has {n} tokens, more than seq_len {seqLen}");
            var angF = Axis(g.F, cf, device).view(g.F, 1, 1, cf).expand(g.F, g.H, g.W, cf);
            var angH = Axis(g.H, ch, device).view(1, g.H, 1, ch).expand(g.F, g.H, g.W, ch);
            var angW = Axis(g.W, cw, device).view(1, 1, g.W, cw).expand(g.F, g.H, g.W, cw);
            var ang = torch.cat([angF, angH, angW], 3).reshape(n, c);           // [L, c] float64
            if (n < seqLen) ang = F.pad(ang, [0, 0, 0, seqLen - n]);           // angle 0 -> factor 1
            perGrid[g] = torch.polar(torch.ones_like(ang), ang);                // [S, c] complex128
        }
        Tensor table = distinct.Count == 1
            ? perGrid[distinct[0]].unsqueeze(0)                                 // [1, S, c]
            : torch.stack(grids.Select(g => perGrid[g]).ToList());              // [B, S, c]
        var complexType = realDtype == ScalarType.Float64 ? ScalarType.ComplexFloat64 : ScalarType.ComplexFloat32;
        return scope.Keep(table.unsqueeze(2).As(complexType));                  // [B|1, S, 1, c]
    }

    /// <summary>The rotation factors of tokens at explicit grid positions (f, h, w), each [E] (e.g. reference or motion
    /// frames appended to the latent tokens): complex [1, E, 1, head_dim/2], the same angles a grid token at that
    /// position gets from <see cref="Table"/>.</summary>
    public static Tensor Positions(int headDim, long[] f, long[] h, long[] w, ScalarType realDtype, Device device)
    {
        if (f.Length != h.Length || f.Length != w.Length)
            throw new ArgumentException($"RoPE: position lists of different lengths ({f.Length}, {h.Length}, {w.Length})");
        using var scope = torch.NewScope();
        int c = headDim / 2;
        int cf = c - 2 * (c / 3), ch = c / 3, cw = c / 3;
        Tensor Ang(long[] pos, int pairs) =>                                       // [E, pairs] float64
            torch.tensor(pos.Select(p => (double)p).ToArray()).to(device).unsqueeze(1) * torch.tensor(AxisFrequencies(pairs)).to(device).unsqueeze(0);
        var ang = torch.cat([Ang(f, cf), Ang(h, ch), Ang(w, cw)], 1);              // [E, c]
        var table = torch.polar(torch.ones_like(ang), ang).unsqueeze(0).unsqueeze(2);   // [1, E, 1, c] complex128
        return scope.Keep(table.As(realDtype == ScalarType.Float64 ? ScalarType.ComplexFloat64 : ScalarType.ComplexFloat32));
    }

    // angles pos·θ_j for pos = 0..n−1: [n, pairs] float64
    private static Tensor Axis(int n, int pairs, Device device)
    {
        var theta = torch.tensor(AxisFrequencies(pairs)).to(device);                       // [pairs]
        return torch.arange(n, ScalarType.Float64, device).unsqueeze(1) * theta.unsqueeze(0);
    }

    /// <summary>Rotates x: [B, S, heads, head_dim] (real) by <paramref name="table"/> [B|1, S, 1, head_dim/2].</summary>
    public static Tensor Apply(Tensor x, Tensor table)
    {
        using var scope = torch.NewScope();
        var s = x.shape;
        var xc = x.contiguous().view(s[0], s[1], s[2], s[3] / 2, 2).view_as_complex();   // [B, S, H, d/2]
        return scope.Keep((xc * table).view_as_real().view(s));
    }
}
