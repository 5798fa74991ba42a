using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>
/// One DiT block (<c>WanAttentionBlock</c>, docs/wan-dit.md#forward-pass), with m = modulation + e0 = (shift, scale, gate)
/// for self-attention and for the FFN:
/// <code>
/// x = x + SelfAttn(LN(x)·(1 + m1) + m0)·m2
/// x = x + CrossAttn(norm3(x), context)          (no modulation, no gate)
/// x = x + FFN(LN(x)·(1 + m4) + m3)·m5
/// </code>
/// Modulation, the modulated inputs and the residual stream are float32 islands.
/// </summary>
public sealed class WanAttentionBlock : Module
{
    public readonly WanLayerNorm norm1, norm2;
    public readonly WanLayerNorm? norm3;                // affine when cross_attn_norm, else identity
    public readonly WanSelfAttention self_attn;
    public readonly WanCrossAttention cross_attn;
    public readonly Sequential ffn;                     // [0] Linear(dim → ffn_dim) [1] GELU_tanh [2] Linear(ffn_dim → dim)
    public readonly Parameter modulation;               // [1, 6, dim]
    private readonly int textLen;

    public WanAttentionBlock(WanConfig cfg, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        int dim = cfg.Dim;
        textLen = cfg.TextLen;
        modulation = RegisterParameter("modulation", torch.randn([1, 6, dim], dtype, device) / Math.Sqrt(dim));
        norm1 = RegisterModule("norm1", new WanLayerNorm(dim, cfg.Eps, false, dtype, device));
        self_attn = RegisterModule("self_attn", new WanSelfAttention(dim, cfg.NumHeads, cfg.QkNorm, cfg.Eps, dtype, device));
        if (cfg.CrossAttnNorm) norm3 = RegisterModule("norm3", new WanLayerNorm(dim, cfg.Eps, true, dtype, device));
        cross_attn = RegisterModule("cross_attn",
            new WanCrossAttention(dim, cfg.NumHeads, cfg.QkNorm, cfg.Eps, cfg.IsI2V, dtype, device));
        norm2 = RegisterModule("norm2", new WanLayerNorm(dim, cfg.Eps, false, dtype, device));
        ffn = RegisterModule("ffn", new Sequential(
            new Linear(dim, cfg.FfnDim, dtype: dtype, device: device),
            new GELU(tanh: true),
            new Linear(cfg.FfnDim, dim, dtype: dtype, device: device)));
    }

    /// <summary>
    /// x: [B, S, dim] (float32 island); e0: [B, 6, dim] time projection; context: [B, Lc, dim];
    /// rope: [B|1, S, 1, head_dim/2] complex; keyMask: [B, 1, 1, S] or null; afterCrossAttention: an extra residual
    /// sub-layer between the cross-attention and the FFN (<see cref="WanHook.AfterCrossAttention"/>). Returns [B, S, dim].
    /// </summary>
    public Tensor forward(Tensor x, Tensor e0, Tensor context, Tensor rope, Tensor? keyMask, ScalarType? attnDtype = null,
        Func<Tensor, Tensor>? afterCrossAttention = null)
    {
        using var scope = torch.NewScope();
        var island = WanPrecision.Island(modulation.dtype);
        var m = (modulation.As(island) + e0.As(island)).chunk(6, 1);                  // 6 × [B, 1, dim]
        var y = self_attn.forward(norm1.forward(x).As(island) * (m[1] + 1.0) + m[0], rope, keyMask, attnDtype);
        x = x + y * m[2];                                                               // [B, S, dim]
        var c = norm3 is null ? x : norm3.forward(x);
        x = x + cross_attn.forward(c, context, textLen, attnDtype);
        if (afterCrossAttention is not null) x = afterCrossAttention(x);
        y = FeedForward(norm2.forward(x).As(island) * (m[4] + 1.0) + m[3]);
        return scope.Keep(x + y * m[5]);
    }

    private Tensor FeedForward(Tensor x)
    {
        using var scope = torch.NewScope();
        var h = ((Linear)ffn[0]).Apply(x);                                              // [B, S, ffn_dim]
        return scope.Keep(((Linear)ffn[2]).Apply(F.gelu(h, tanh: true)));               // [B, S, dim]
    }
}
