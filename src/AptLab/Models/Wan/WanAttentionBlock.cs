using AptLab.Torch.nn;

namespace AptLab.Models.Wan;

/// <summary>
/// One DiT block (<c>WanAttentionBlock</c>, spec §2.3 step 7), with m = modulation + e0 = (shift, scale, gate)
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
    /// rope: [B|1, S, 1, head_dim/2] complex; keyMask: [B, 1, 1, S] or null. Returns [B, S, dim].
    /// </summary>
    public Tensor forward(Tensor x, Tensor e0, Tensor context, Tensor rope, Tensor? keyMask, ScalarType? attnDtype = null)
    {
        using var scope = torch.NewScope();
        var island = WanPrecision.Island(modulation.dtype);
        var m = (modulation.As(island) + e0.As(island)).chunk(6, 1);                  // 6 × [B, 1, dim]
        var y = self_attn.forward(norm1.forward(x).As(island) * (m[1] + 1.0) + m[0], rope, keyMask, attnDtype);
        x = x + y * m[2];                                                               // [B, S, dim]
        var c = norm3 is null ? x : norm3.forward(x);
        x = x + cross_attn.forward(c, context, textLen, attnDtype);
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

/// <summary>Output head (spec §2.3 step 8): (h0, h1) = modulation + e; out = head(LN(x)·(1 + h1) + h0),
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

/// <summary>I2V image projection <c>img_emb</c> (<c>MLPProj</c>): proj = [0] LayerNorm(clip_dim, eps 1e-5)
/// [1] Linear(clip_dim → clip_dim) [2] GELU (erf) [3] Linear(clip_dim → dim) [4] LayerNorm(dim, eps 1e-5).</summary>
public sealed class WanMlpProj : Module<Tensor, Tensor>
{
    public readonly Sequential proj;

    public WanMlpProj(int in_dim, int out_dim, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        proj = RegisterModule("proj", new Sequential(
            new WanLayerNorm(in_dim, 1e-5, true, dtype, device),
            new Linear(in_dim, in_dim, dtype: dtype, device: device),
            new GELU(tanh: false),
            new Linear(in_dim, out_dim, dtype: dtype, device: device),
            new WanLayerNorm(out_dim, 1e-5, true, dtype, device)));
    }

    /// <summary>clip_fea: [B, N_img, clip_dim] → [B, N_img, dim].</summary>
    public override Tensor forward(Tensor clip_fea)
    {
        using var scope = torch.NewScope();
        var h = proj[0].forward(clip_fea);
        h = F.gelu(((Linear)proj[1]).Apply(h));
        h = ((Linear)proj[3]).Apply(h);
        return scope.Keep(proj[4].forward(h));
    }
}
