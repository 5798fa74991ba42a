using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>
/// out = shortcut(x) + conv6(Dropout(SiLU(RMS_norm3(conv2(SiLU(RMS_norm0(x))))))), where conv2 and conv6 are
/// 3×3×3 causal convs and shortcut is a 1×1×1 causal conv when the channel count changes.
/// Keys: <c>residual.0.gamma</c>, <c>residual.2.{weight,bias}</c>, <c>residual.3.gamma</c>,
/// <c>residual.6.{weight,bias}</c>, <c>shortcut.{weight,bias}</c> (when in ≠ out).
/// </summary>
public sealed class ResidualBlock : Module<Tensor, Tensor>
{
    public readonly VaeRmsNorm norm0, norm3;   // residual.0, residual.3
    public readonly CausalConv3d conv2, conv6; // residual.2, residual.6
    public readonly CausalConv3d? shortcut;
    private readonly double dropout;

    public ResidualBlock(long in_dim, long out_dim, double dropout = 0.0)
    {
        this.dropout = dropout;
        norm0 = new VaeRmsNorm(in_dim, images: false);
        conv2 = new CausalConv3d(in_dim, out_dim, 3, 1);
        norm3 = new VaeRmsNorm(out_dim, images: false);
        conv6 = new CausalConv3d(out_dim, out_dim, 3, 1);
        // Indices 1, 4 (SiLU) and 5 (Dropout) have no parameters.
        RegisterModule("residual", new IndexedModules(("0", norm0), ("2", conv2), ("3", norm3), ("6", conv6)));
        if (in_dim != out_dim) shortcut = RegisterModule("shortcut", new CausalConv3d(in_dim, out_dim, 1));
    }

    /// <summary>Whole-sequence form. x: [B, in, T, H, W] -> [B, out, T, H, W]</summary>
    public override Tensor forward(Tensor x) => forward(x, null);

    /// <summary>Streaming form: conv2 and conv6 each take the next cache slot; null = whole sequence.</summary>
    public Tensor forward(Tensor x, FeatureCache? cache)
    {
        using var scope = torch.NewScope();
        var h = shortcut is null ? x : shortcut.forward(x);
        var r = norm0.forward(x).silu();
        r = cache is null ? conv2.forward(r) : conv2.forward(r, cache.Next());
        r = norm3.forward(r).silu();
        if (training && dropout > 0) r = F.dropout(r, dropout, true);
        r = cache is null ? conv6.forward(r) : conv6.forward(r, cache.Next());
        return scope.Keep(r + h);
    }
}
