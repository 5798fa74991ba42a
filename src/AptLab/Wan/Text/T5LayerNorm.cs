using AptLab.Torch.nn;

namespace AptLab.Wan.Text;

/// <summary>
/// T5's LayerNorm: an RMS norm without centring or bias, <c>y = w * x / sqrt(mean(x^2) + eps)</c>.
/// The mean of squares is taken in float32; with a half-precision weight the normalised value is cast to the
/// weight dtype before the multiply (docs/umt5.md#forward). Key: <c>weight</c> [dim].
/// </summary>
public sealed class T5LayerNorm : Module<Tensor, Tensor>
{
    public readonly Parameter weight;   // [dim]
    public readonly double eps;

    public T5LayerNorm(long dim, double eps = 1e-6, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.eps = eps;
        weight = RegisterParameter("weight", torch.ones([dim], dtype, device));
    }

    public override Tensor forward(Tensor x)   // x: [B, L, dim]
    {
        using var scope = torch.NewScope();
        var ms = x.to(ScalarType.Float32).pow(2L).mean(-1, keepdim: true);   // [B, L, 1] float32
        var y = x * (ms + eps).rsqrt();                                        // promoted to float32
        if (weight.dtype is ScalarType.Float16 or ScalarType.BFloat16) y = y.to(weight.dtype);
        return scope.Keep(weight * y);
    }
}
