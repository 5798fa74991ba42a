using AptLab.Torch.nn;

namespace AptLab.Apt;

/// <summary>
/// One APT discriminator read-out head (docs/apt.md#heads): a cross-attention-only transformer block whose single
/// learnable query token attends to the visual tokens of one backbone layer.
/// <code>
/// h' = RMSNorm(h);  q = Wq(RMSNorm(q0)); k = Wk(h'); v = Wv(h')
/// q, k = per-head RMSNorm;  y = q0 + Wo(softmax(q k^T / sqrt d) v)   (padding keys masked)
/// y = y + W2(GELU(W1(LayerNorm(y))))
/// </code>
/// Output: one token [B, C], in the head's dtype. The hidden states come in whatever dtype the backbone keeps its
/// residual stream in (Wan: a float32 island even in a bf16 model); they are cast to the head's own dtype (its
/// compute copies' under the precision policy) first.
/// </summary>
public sealed class DiscriminatorHead : Module
{
    public readonly Parameter query;            // [1, 1, C], N(0, 0.02^2)
    public readonly RMSNorm norm_kv, norm_q, norm_q_head, norm_k_head;
    public readonly Linear q, k, v, o;
    public readonly LayerNorm norm_mlp;
    public readonly Linear mlp_in, mlp_out;
    private readonly int numHeads, headDim;

    public DiscriminatorHead(int dim, int numHeads, double mlpRatio = 4, double eps = 1e-6, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (dim % numHeads != 0) throw new ArgumentException($"head dim: {dim} is not divisible by {numHeads} heads");
        this.numHeads = numHeads;
        headDim = dim / numHeads;
        query = RegisterParameter("query", torch.empty([1, 1, dim], dtype, device));
        init.normal_(query, 0, 0.02);
        norm_kv = RegisterModule("norm_kv", new RMSNorm(dim, eps, dtype: dtype, device: device));
        norm_q = RegisterModule("norm_q", new RMSNorm(dim, eps, dtype: dtype, device: device));
        q = RegisterModule("q", new Linear(dim, dim, dtype: dtype, device: device));
        k = RegisterModule("k", new Linear(dim, dim, dtype: dtype, device: device));
        v = RegisterModule("v", new Linear(dim, dim, dtype: dtype, device: device));
        o = RegisterModule("o", new Linear(dim, dim, dtype: dtype, device: device));
        norm_q_head = RegisterModule("norm_q_head", new RMSNorm(headDim, eps, dtype: dtype, device: device));
        norm_k_head = RegisterModule("norm_k_head", new RMSNorm(headDim, eps, dtype: dtype, device: device));
        norm_mlp = RegisterModule("norm_mlp", new LayerNorm(dim, eps, dtype: dtype, device: device));
        int hidden = (int)(dim * mlpRatio);
        mlp_in = RegisterModule("mlp_in", new Linear(dim, hidden, dtype: dtype, device: device));
        mlp_out = RegisterModule("mlp_out", new Linear(hidden, dim, dtype: dtype, device: device));
    }

    /// <param name="hidden">visual tokens of a backbone layer [B, L, C]</param>
    /// <param name="keyMask">[B, L] true for real tokens (false = padding), or null when nothing is padded</param>
    /// <returns>[B, C]</returns>
    public Tensor forward(Tensor hidden, Tensor? keyMask)
    {
        using var scope = torch.NewScope();
        if (hidden.dtype != query.dtype) hidden = hidden.to(query.dtype);
        long b = hidden.size(0), l = hidden.size(1), c = hidden.size(2);
        var q0 = query.expand(b, 1, c);                                                   // [B, 1, C]
        var h = norm_kv.forward(hidden);                                                  // [B, L, C]
        var qh = norm_q_head.forward(q.forward(norm_q.forward(q0)).view(b, 1, numHeads, headDim)).transpose(1, 2);  // [B, H, 1, d]
        var kh = norm_k_head.forward(k.forward(h).view(b, l, numHeads, headDim)).transpose(1, 2);                   // [B, H, L, d]
        var vh = v.forward(h).view(b, l, numHeads, headDim).transpose(1, 2);                                       // [B, H, L, d]
        var mask = keyMask?.view(b, 1, 1, l);
        var a = F.scaled_dot_product_attention(qh, kh, vh, mask);                        // [B, H, 1, d]
        var y = q0 + o.forward(a.transpose(1, 2).reshape(b, 1, c));                      // [B, 1, C]
        y = y + mlp_out.forward(F.gelu(mlp_in.forward(norm_mlp.forward(y))));
        return scope.Keep(y.view(b, c));
    }
}
