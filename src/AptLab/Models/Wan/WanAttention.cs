using AptLab.Torch.nn;

namespace AptLab.Models.Wan;

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

/// <summary>Self-attention of a Wan block (spec §2.4): q/k RMSNorm over the whole dim, 3D RoPE on q and k,
/// global attention with sequence-padding keys masked, output projection <c>o</c>.</summary>
public sealed class WanSelfAttention : Module
{
    public readonly Linear q, k, v, o;
    public readonly WanRmsNorm? norm_q, norm_k;
    public readonly int num_heads, head_dim;

    public WanSelfAttention(int dim, int num_heads, bool qk_norm = true, double eps = 1e-6,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.num_heads = num_heads;
        head_dim = dim / num_heads;
        q = RegisterModule("q", new Linear(dim, dim, dtype: dtype, device: device));
        k = RegisterModule("k", new Linear(dim, dim, dtype: dtype, device: device));
        v = RegisterModule("v", new Linear(dim, dim, dtype: dtype, device: device));
        o = RegisterModule("o", new Linear(dim, dim, dtype: dtype, device: device));
        if (qk_norm)
        {
            norm_q = RegisterModule("norm_q", new WanRmsNorm(dim, eps, dtype, device));
            norm_k = RegisterModule("norm_k", new WanRmsNorm(dim, eps, dtype, device));
        }
    }

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

/// <summary>Cross-attention of a Wan block (spec §2.6): queries from the video tokens, keys/values from the
/// text context (no RoPE, no mask). I2V adds an image branch (k_img, v_img, norm_k_img) over the leading
/// CLIP tokens of the context; both branch outputs are summed before <c>o</c>.</summary>
public sealed class WanCrossAttention : Module
{
    public readonly Linear q, k, v, o;
    public readonly WanRmsNorm? norm_q, norm_k, norm_k_img;
    public readonly Linear? k_img, v_img;
    public readonly int num_heads, head_dim;
    public bool HasImageInput => k_img is not null;

    public WanCrossAttention(int dim, int num_heads, bool qk_norm = true, double eps = 1e-6, bool has_image_input = false,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.num_heads = num_heads;
        head_dim = dim / num_heads;
        q = RegisterModule("q", new Linear(dim, dim, dtype: dtype, device: device));
        k = RegisterModule("k", new Linear(dim, dim, dtype: dtype, device: device));
        v = RegisterModule("v", new Linear(dim, dim, dtype: dtype, device: device));
        o = RegisterModule("o", new Linear(dim, dim, dtype: dtype, device: device));
        if (qk_norm)
        {
            norm_q = RegisterModule("norm_q", new WanRmsNorm(dim, eps, dtype, device));
            norm_k = RegisterModule("norm_k", new WanRmsNorm(dim, eps, dtype, device));
        }
        if (has_image_input)
        {
            k_img = RegisterModule("k_img", new Linear(dim, dim, dtype: dtype, device: device));
            v_img = RegisterModule("v_img", new Linear(dim, dim, dtype: dtype, device: device));
            if (qk_norm) norm_k_img = RegisterModule("norm_k_img", new WanRmsNorm(dim, eps, dtype, device));
        }
    }

    /// <summary>x: [B, S, dim]; context: [B, Lc, dim] where, with an image branch, the first Lc − textLen rows
    /// are image tokens and the last textLen rows text.</summary>
    public Tensor forward(Tensor x, Tensor context, int textLen, ScalarType? attnDtype = null)
    {
        using var scope = torch.NewScope();
        long b = x.size(0);
        var ctxText = context;
        Tensor? ctxImg = null;
        if (HasImageInput)
        {
            long nImg = context.size(1) - textLen;
            if (nImg < 0) throw new ArgumentException($"cross-attention: context has {context.size(1)} rows, fewer than text_len {textLen}");
            ctxImg = context.narrow(1, 0, nImg);                                // [B, N_img, dim]
            ctxText = context.narrow(1, nImg, textLen);                         // [B, text_len, dim]
        }
        var qx = q.Apply(x);                                                    // [B, S, dim]
        var kx = k.Apply(ctxText);                                              // [B, Lt, dim]
        if (norm_q is not null) qx = norm_q.forward(qx);
        if (norm_k is not null) kx = norm_k.forward(kx);
        var qh = qx.view(b, -1, num_heads, head_dim);
        var a = WanAttention.Attend(qh, kx.view(b, -1, num_heads, head_dim),
            v.Apply(ctxText).view(b, -1, num_heads, head_dim), null, attnDtype);  // [B, S, dim]
        if (ctxImg is not null)
        {
            var ki = k_img!.Apply(ctxImg);
            if (norm_k_img is not null) ki = norm_k_img.forward(ki);
            var ai = WanAttention.Attend(qh, ki.view(b, -1, num_heads, head_dim),
                v_img!.Apply(ctxImg).view(b, -1, num_heads, head_dim), null, attnDtype);
            a = a + ai;
        }
        return scope.Keep(o.Apply(a));
    }
}
