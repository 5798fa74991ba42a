using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>Cross-attention of a Wan block (docs/wan-dit.md#cross-attention): queries from the video tokens, keys/values from the
/// text context (no RoPE, no mask). I2V adds an image branch (k_img, v_img, norm_k_img) over the leading
/// CLIP tokens of the context; both branch outputs are summed before <c>o</c>.</summary>
public sealed class WanCrossAttention : WanAttentionProjections
{
    public readonly WanRmsNorm? norm_k_img;
    public readonly Linear? k_img, v_img;
    public bool HasImageInput => k_img is not null;

    public WanCrossAttention(int dim, int num_heads, bool qk_norm = true, double eps = 1e-6, bool has_image_input = false,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(dim, num_heads, qk_norm, eps, dtype, device)
    {
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
