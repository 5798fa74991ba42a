using AptLab.Wan;
using AptLab.Torch.nn;

namespace AptLab.Wan.Clip;

/// <summary>Multi-head self-attention of a CLIP block: one fused projection <c>to_qkv</c> [3·dim, dim] whose output
/// columns are [q | k | v] (each split into heads of head_dim consecutive columns), plain softmax attention with
/// scale 1/√head_dim (no mask), heads merged back and projected by <c>proj</c> (docs/wan-clip.md).</summary>
public sealed class ClipSelfAttention : Module<Tensor, Tensor>
{
    public readonly Linear to_qkv, proj;
    public readonly int num_heads, head_dim;

    public ClipSelfAttention(int dim, int num_heads, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        (this.num_heads, head_dim) = (num_heads, dim / num_heads);
        to_qkv = RegisterModule("to_qkv", new Linear(dim, 3L * dim, dtype: dtype, device: device));
        proj = RegisterModule("proj", new Linear(dim, dim, dtype: dtype, device: device));
    }

    public override Tensor forward(Tensor x)                                   // x: [B, L, dim]
    {
        using var scope = torch.NewScope();
        long b = x.size(0), s = x.size(1);
        var qkv = to_qkv.Apply(x).view(b, s, 3, num_heads, head_dim).unbind(2);   // 3 × [B, L, H, d]
        var a = WanAttention.Attend(qkv[0], qkv[1], qkv[2], null, null);     // [B, L, dim]
        return scope.Keep(proj.Apply(a));
    }
}

/// <summary>
/// One transformer block of the CLIP vision tower (<c>AttentionBlock</c>). Pre-norm (every release):
/// <c>x = x + attn(norm1(x)); x = x + mlp(norm2(x))</c>; post-norm: <c>x = x + norm1(attn(x)); x = x + norm2(mlp(x))</c>.
/// <c>mlp</c> = [0] Linear(dim → mlp_dim), [1] GELU (exact) or QuickGELU, [2] Linear(mlp_dim → dim). The norms are
/// LayerNorms computed in float32 and cast back, as the official <c>LayerNorm</c> subclass does.
/// </summary>
public sealed class ClipAttentionBlock : Module<Tensor, Tensor>
{
    public readonly WanLayerNorm norm1, norm2;
    public readonly ClipSelfAttention attn;
    public readonly Sequential mlp;
    public readonly bool post_norm;

    public ClipAttentionBlock(ClipVisionConfig c, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        post_norm = c.PostNorm;
        norm1 = RegisterModule("norm1", new WanLayerNorm(c.Dim, c.NormEps, true, dtype, device));
        attn = RegisterModule("attn", new ClipSelfAttention(c.Dim, c.NumHeads, dtype, device));
        norm2 = RegisterModule("norm2", new WanLayerNorm(c.Dim, c.NormEps, true, dtype, device));
        mlp = RegisterModule("mlp", new Sequential(
            new Linear(c.Dim, c.MlpDim, dtype: dtype, device: device),
            c.Activation == "quick_gelu" ? new QuickGELU() : new GELU(tanh: false),
            new Linear(c.MlpDim, c.Dim, dtype: dtype, device: device)));
    }

    public override Tensor forward(Tensor x)                                   // x: [B, L, dim]
    {
        using var scope = torch.NewScope();
        var h = post_norm ? x + norm1.forward(attn.forward(x)) : x + attn.forward(norm1.forward(x));
        var y = post_norm ? h + norm2.forward(mlp.forward(h)) : h + mlp.forward(norm2.forward(h));
        return scope.Keep(y);                                                  // [B, L, dim]
    }
}

/// <summary>QuickGELU, x·σ(1.702·x): the activation of the OpenAI CLIP towers (the ViT-H/14 that Wan uses has the
/// exact GELU instead; kept for configs with <c>activation: quick_gelu</c>).</summary>
public sealed class QuickGELU : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewScope();
        return scope.Keep(x * (x * 1.702).sigmoid());
    }
}
