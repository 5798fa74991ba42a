
namespace AptLab.Wan;

/// <summary>Plain softmax attention over split heads, as Wan's <c>flash_attention</c>: softmax(q·kᵀ/√d)·v,
/// not causal, keys optionally masked (sequence padding).</summary>
internal static class WanAttention
{
    /// <summary>
    /// q: [B, Lq, H, d], k and v: [B, Lk, H, d]; keyMask: bool [B, 1, 1, Lk] (true = attend) or null.
    /// With <paramref name="computeDtype"/> q, k, v are cast to it (e.g. bfloat16) and the result is cast back
    /// to q's dtype. Returns the merged heads [B, Lq, H·d].
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? keyMask, ScalarType? computeDtype)
    {
        using var scope = torch.NewScope();
        var outDtype = q.dtype;
        var dt = computeDtype ?? outDtype;
        var qh = q.As(dt).transpose(1, 2);                                      // [B, H, Lq, d]
        var kh = k.As(dt).transpose(1, 2);                                      // [B, H, Lk, d]
        var vh = v.As(dt).transpose(1, 2);                                      // [B, H, Lk, d]
        var o = F.scaled_dot_product_attention(qh, kh, vh, keyMask);            // [B, H, Lq, d]
        var s = q.shape;
        return scope.Keep(o.transpose(1, 2).reshape(s[0], s[1], s[2] * s[3]).As(outDtype));  // [B, Lq, H·d]
    }
}
