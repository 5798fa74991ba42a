
namespace AptLab.Wan;

/// <summary>Self-attention of a Wan block (docs/wan-dit.md#self-attention): q/k RMSNorm over the whole dim, 3D RoPE on q and k,
/// global attention with sequence-padding keys masked, output projection <c>o</c>.</summary>
public sealed class WanSelfAttention(int dim, int num_heads, bool qk_norm = true, double eps = 1e-6,
    ScalarType dtype = ScalarType.Float32, Device? device = null)
    : WanAttentionProjections(dim, num_heads, qk_norm, eps, dtype, device)
{
    /// <summary>x: [B, S, dim]; rope: [B|1, S, 1, head_dim/2] complex; keyMask: [B, 1, 1, S] or null.</summary>
    public Tensor forward(Tensor x, Tensor rope, Tensor? keyMask, ScalarType? attnDtype = null)
    {
        using var scope = torch.NewScope();
        long b = x.size(0), s = x.size(1);
        var island = WanPrecision.Island(x.dtype);
        var qx = q.Apply(x);                                                    // [B, S, dim]
        var kx = k.Apply(x);
        if (norm_q is not null) qx = norm_q.forward(qx);
        if (norm_k is not null) kx = norm_k.forward(kx);
        var qr = WanRope.Apply(qx.As(island).view(b, s, num_heads, head_dim), rope);  // [B, S, H, d]
        var kr = WanRope.Apply(kx.As(island).view(b, s, num_heads, head_dim), rope);
        var vx = v.Apply(x).view(b, s, num_heads, head_dim);
        var a = WanAttention.Attend(qr, kr, vx, keyMask, attnDtype);             // [B, S, dim]
        return scope.Keep(o.Apply(a));
    }
}
