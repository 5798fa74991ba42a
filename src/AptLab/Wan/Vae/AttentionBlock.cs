using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// Single-head spatial self-attention applied to every frame separately, with a residual connection:
/// x + proj(softmax(q kᵀ / √C) v), where q, k, v come from the 1×1 conv <c>to_qkv</c> on RMS_norm(x) and the
/// tokens are the H·W positions (row-major). Keys: <c>norm.gamma [C,1,1]</c>, <c>to_qkv.{weight [3C,C,1,1],
/// bias}</c>, <c>proj.{weight [C,C,1,1], bias}</c>. Stateless, so identical in streaming and whole-sequence use.
/// </summary>
public sealed class AttentionBlock : Module<Tensor, Tensor>
{
    public readonly VaeRmsNorm norm;
    public readonly Conv2d to_qkv, proj;
    private readonly long dim;

    public AttentionBlock(long dim)
    {
        this.dim = dim;
        norm = RegisterModule("norm", new VaeRmsNorm(dim, images: true));
        to_qkv = RegisterModule("to_qkv", new Conv2d(dim, dim * 3, [1]));
        proj = RegisterModule("proj", new Conv2d(dim, dim, [1]));
        init.zeros_(proj.weight);   // the official init: the block starts as the identity
    }

    // x: [B, C, T, H, W] -> [B, C, T, H, W]
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewScope();
        var s = x.shape;
        long b = s[0], c = s[1], t = s[2], h = s[3], w = s[4];
        if (c != dim) throw new ArgumentException($"AttentionBlock: expected {dim} channels, got {c}");
        var frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w);          // [B·T, C, H, W]
        var qkv = to_qkv.forward(norm.forward(frames))                          // [B·T, 3C, H, W]
            .reshape(b * t, 1, c * 3, h * w).permute(0, 1, 3, 2);               // [B·T, 1, HW, 3C]
        var parts = qkv.chunk(3, -1);                                           // q, k, v: [B·T, 1, HW, C]
        var a = F.scaled_dot_product_attention(parts[0], parts[1], parts[2]);  // [B·T, 1, HW, C]
        a = a.squeeze(1).permute(0, 2, 1).reshape(b * t, c, h, w);              // [B·T, C, H, W]
        var y = proj.forward(a).view(b, t, c, h, w).permute(0, 2, 1, 3, 4);     // [B, C, T, H, W]
        return scope.Keep(y + x);
    }
}
