using AptLab.Torch.nn;

namespace AptLab.Wan.Text;

/// <summary>
/// T5 self-attention without 1/sqrt(d) scaling: <c>softmax(q k^T + bias) v</c>, where bias is the relative
/// position bias with masked keys set to the dtype's most negative value. Keys: <c>{q,k,v,o}.weight</c>,
/// no biases.
/// </summary>
public sealed class T5Attention : Module
{
    public readonly Linear q, k, v, o;
    public readonly int num_heads, head_dim;

    public T5Attention(int dim, int dim_attn, int num_heads, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (dim_attn % num_heads != 0) throw new ArgumentException($"dim_attn {dim_attn} is not divisible by num_heads {num_heads}");
        this.num_heads = num_heads;
        head_dim = dim_attn / num_heads;
        q = RegisterModule("q", new Linear(dim, dim_attn, bias: false, dtype, device));
        k = RegisterModule("k", new Linear(dim, dim_attn, bias: false, dtype, device));
        v = RegisterModule("v", new Linear(dim, dim_attn, bias: false, dtype, device));
        o = RegisterModule("o", new Linear(dim_attn, dim, bias: false, dtype, device));
    }

    /// <param name="x">[B, L, dim]</param>
    /// <param name="mask">[B, L] with 1 on real tokens, or null (nothing masked)</param>
    /// <param name="posBias">[1 or B, N, L, L] relative-position bias</param>
    public Tensor forward(Tensor x, Tensor? mask, Tensor posBias)
    {
        using var scope = torch.NewScope();
        long b = x.size(0), l = x.size(1);
        var qh = q.forward(x).view(b, l, num_heads, head_dim).transpose(1, 2);   // [B, N, L, C]
        var kh = k.forward(x).view(b, l, num_heads, head_dim).transpose(1, 2);
        var vh = v.forward(x).view(b, l, num_heads, head_dim).transpose(1, 2);

        var bias = posBias.to(x.dtype).expand(b, num_heads, l, l);                 // [B, N, L, L]
        if (mask is not null)
        {
            var masked = mask.view(b, 1, 1, l).eq(0);                              // [B, 1, 1, L] keys only
            bias = bias.masked_fill(masked, MostNegative(x.dtype));
        }
        var scores = qh.matmul(kh.transpose(-2, -1)) + bias;                        // [B, N, Lq, Lk], no 1/sqrt(d)
        var attn = F.softmax(scores.to(ScalarType.Float32), -1).to(x.dtype);
        var outh = attn.matmul(vh);                                                 // [B, N, L, C]
        var merged = outh.transpose(1, 2).reshape(b, l, num_heads * head_dim);      // [B, L, dim_attn]
        return scope.Keep(o.forward(merged));
    }

    /// <summary>torch.finfo(dtype).min.</summary>
    public static double MostNegative(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => float.MinValue,
        ScalarType.Float64 => double.MinValue,
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        _ => throw new ArgumentException($"T5 attention needs a floating dtype, got {dtype.TorchName()}"),
    };
}
