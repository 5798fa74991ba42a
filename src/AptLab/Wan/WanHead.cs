using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>Output head (docs/wan-dit.md#forward-pass): (h0, h1) = modulation + e; out = head(LN(x)·(1 + h1) + h0),
/// computed in the float32 island. Uses the time embedding e, not e0.</summary>
public sealed class WanHead : Module
{
    public readonly WanLayerNorm norm;
    public readonly Linear head;                        // Linear(dim → out_dim·pt·ph·pw)
    public readonly Parameter modulation;               // [1, 2, dim]

    public WanHead(int dim, int patchOutDim, double eps = 1e-6, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        modulation = RegisterParameter("modulation", torch.randn([1, 2, dim], dtype, device) / Math.Sqrt(dim));
        norm = RegisterModule("norm", new WanLayerNorm(dim, eps, false, dtype, device));
        head = RegisterModule("head", new Linear(dim, patchOutDim, dtype: dtype, device: device));
    }

    /// <summary>x: [B, S, dim]; e: [B, dim] → [B, S, out_dim·pt·ph·pw] in the island dtype.</summary>
    public Tensor forward(Tensor x, Tensor e)
    {
        using var scope = torch.NewScope();
        var island = WanPrecision.Island(modulation.dtype);
        var h = (modulation.As(island) + e.As(island).unsqueeze(1)).chunk(2, 1);       // 2 × [B, 1, dim]
        var mod = norm.forward(x).As(island) * (h[1] + 1.0) + h[0];
        return scope.Keep(F.linear(mod, head.weight.As(island), head.bias?.As(island)));
    }
}
