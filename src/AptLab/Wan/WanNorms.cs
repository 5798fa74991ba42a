using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>RMSNorm over the whole last dim with a weight [dim] (Wan's q/k norm, <c>WanRMSNorm</c>):
/// y = x · rsqrt(mean(x²) + eps) · weight, normalised in float32, cast back to the input dtype.</summary>
public sealed class WanRmsNorm : Module<Tensor, Tensor>
{
    public readonly Parameter weight;   // [dim]
    public readonly double eps;

    public WanRmsNorm(long dim, double eps = 1e-6, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.eps = eps;
        weight = RegisterParameter("weight", torch.ones([dim], dtype, device));
    }

    public override Tensor forward(Tensor x)   // x: [B, L, dim]
    {
        var island = WanPrecision.Island(x.dtype);
        if (x.dtype == island && weight.dtype == island)
            return F.rms_norm(x, [x.size(-1)], weight, eps);
        using var scope = torch.NewScope();
        var y = F.rms_norm(x.As(island), [x.size(-1)], null, eps).As(x.dtype);
        return scope.Keep(y * weight.As(x.dtype));
    }
}

/// <summary>LayerNorm over the last dim computed in float32 and cast back (<c>WanLayerNorm</c>); affine
/// (weight, bias [dim]) only for the cross-attention norm <c>norm3</c>.</summary>
public sealed class WanLayerNorm : Module<Tensor, Tensor>
{
    public readonly Parameter? weight, bias;   // [dim] each, when affine
    public readonly long dim;
    public readonly double eps;

    public WanLayerNorm(long dim, double eps = 1e-6, bool elementwise_affine = false,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.dim = dim;
        this.eps = eps;
        if (elementwise_affine)
        {
            weight = RegisterParameter("weight", torch.ones([dim], dtype, device));
            bias = RegisterParameter("bias", torch.zeros([dim], dtype, device));
        }
    }

    public override Tensor forward(Tensor x)   // x: [B, L, dim]
    {
        var island = WanPrecision.Island(x.dtype);
        if (x.dtype == island && (weight is null || weight.dtype == island))
            return F.layer_norm(x, [dim], weight, bias, eps);
        using var scope = torch.NewScope();
        var y = F.layer_norm(x.As(island), [dim], weight?.As(island), bias?.As(island), eps).As(x.dtype);
        return scope.Keep(y);
    }
}
