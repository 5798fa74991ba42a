using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>The parts Wan's self- and cross-attention share (upstream, WanCrossAttention subclasses
/// WanSelfAttention): projections q, k, v, o [dim, dim] and the optional q/k RMSNorms over the whole dim,
/// registered in the official key order.</summary>
public abstract class WanAttentionProjections : Module
{
    public readonly Linear q, k, v, o;
    public readonly WanRmsNorm? norm_q, norm_k;
    public readonly int num_heads, head_dim;

    protected WanAttentionProjections(int dim, int num_heads, bool qk_norm, double eps, ScalarType dtype, Device? device)
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
}
