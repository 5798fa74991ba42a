namespace AptLab.Torch;

// Elementwise math, comparisons, reductions and matrix products, with PyTorch's names and broadcasting.
public partial class Tensor
{
    // ---- operators ----
    public static Tensor operator +(Tensor a, Tensor b) => Wrap(Native.apt_add(a.H, b.H, 1), a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Wrap(Native.apt_sub(a.H, b.H, 1), a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Wrap(Native.apt_mul(a.H, b.H), a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Wrap(Native.apt_div(a.H, b.H), a, b);
    public static Tensor operator %(Tensor a, Tensor b) => Wrap(Native.apt_remainder(a.H, b.H), a, b);
    public static Tensor operator -(Tensor a) => Wrap(Native.apt_neg(a.H), a);
    public static Tensor operator +(Tensor a, double v) => Wrap(Native.apt_add_s(a.H, v, 0), a);
    public static Tensor operator +(Tensor a, long v) => Wrap(Native.apt_add_s(a.H, v, 1), a);
    public static Tensor operator +(double v, Tensor a) => a + v;
    public static Tensor operator +(long v, Tensor a) => a + v;
    public static Tensor operator -(Tensor a, double v) => Wrap(Native.apt_sub_s(a.H, v, 0), a);
    public static Tensor operator -(Tensor a, long v) => Wrap(Native.apt_sub_s(a.H, v, 1), a);
    public static Tensor operator -(double v, Tensor a) => Wrap(Native.apt_rsub_s(a.H, v, 0), a);
    public static Tensor operator -(long v, Tensor a) => Wrap(Native.apt_rsub_s(a.H, v, 1), a);
    public static Tensor operator *(Tensor a, double v) => Wrap(Native.apt_mul_s(a.H, v, 0), a);
    public static Tensor operator *(Tensor a, long v) => Wrap(Native.apt_mul_s(a.H, v, 1), a);
    public static Tensor operator *(double v, Tensor a) => a * v;
    public static Tensor operator *(long v, Tensor a) => a * v;
    public static Tensor operator /(Tensor a, double v) => Wrap(Native.apt_div_s(a.H, v, 0), a);
    public static Tensor operator /(Tensor a, long v) => Wrap(Native.apt_div_s(a.H, v, 1), a);
    public static Tensor operator /(double v, Tensor a) => Wrap(Native.apt_rdiv_s(a.H, v), a);
    public static Tensor operator %(Tensor a, double v) => Wrap(Native.apt_remainder_s(a.H, v, 0), a);
    public static Tensor operator %(Tensor a, long v) => Wrap(Native.apt_remainder_s(a.H, v, 1), a);

    // ---- binary ----
    public Tensor add(Tensor b, double alpha = 1) => Wrap(Native.apt_add(H, b.H, alpha), this, b);
    public Tensor sub(Tensor b, double alpha = 1) => Wrap(Native.apt_sub(H, b.H, alpha), this, b);
    public Tensor mul(Tensor b) => this * b;
    public Tensor div(Tensor b) => this / b;
    public Tensor pow(Tensor b) => Wrap(Native.apt_pow(H, b.H), this, b);
    public Tensor pow(double v) => Wrap(Native.apt_pow_s(H, v, 0), this);
    public Tensor pow(long v) => Wrap(Native.apt_pow_s(H, v, 1), this);
    public Tensor maximum(Tensor b) => Wrap(Native.apt_maximum(H, b.H), this, b);
    public Tensor minimum(Tensor b) => Wrap(Native.apt_minimum(H, b.H), this, b);
    public Tensor atan2(Tensor b) => Wrap(Native.apt_atan2(H, b.H), this, b);
    public Tensor floor_divide(Tensor b) => Wrap(Native.apt_floor_divide(H, b.H), this, b);
    public Tensor lerp(Tensor end, double weight) => Wrap(Native.apt_lerp(H, end.H, weight), this, end);

    // ---- comparisons (boolean results) ----
    public Tensor eq(Tensor b) => Wrap(Native.apt_eq(H, b.H), this, b);
    public Tensor ne(Tensor b) => Wrap(Native.apt_ne(H, b.H), this, b);
    public Tensor lt(Tensor b) => Wrap(Native.apt_lt(H, b.H), this, b);
    public Tensor le(Tensor b) => Wrap(Native.apt_le(H, b.H), this, b);
    public Tensor gt(Tensor b) => Wrap(Native.apt_gt(H, b.H), this, b);
    public Tensor ge(Tensor b) => Wrap(Native.apt_ge(H, b.H), this, b);
    public Tensor eq(double v) => Wrap(Native.apt_eq_s(H, v, 0), this);
    public Tensor ne(double v) => Wrap(Native.apt_ne_s(H, v, 0), this);
    public Tensor lt(double v) => Wrap(Native.apt_lt_s(H, v, 0), this);
    public Tensor le(double v) => Wrap(Native.apt_le_s(H, v, 0), this);
    public Tensor gt(double v) => Wrap(Native.apt_gt_s(H, v, 0), this);
    public Tensor ge(double v) => Wrap(Native.apt_ge_s(H, v, 0), this);
    public Tensor logical_and(Tensor b) => Wrap(Native.apt_logical_and(H, b.H), this, b);
    public Tensor logical_or(Tensor b) => Wrap(Native.apt_logical_or(H, b.H), this, b);
    public Tensor logical_not() => Wrap(Native.apt_logical_not(H), this);
    public Tensor isnan() => Wrap(Native.apt_isnan(H), this);
    public Tensor isfinite() => Wrap(Native.apt_isfinite(H), this);
    public bool allclose(Tensor other, double rtol = 1e-5, double atol = 1e-8)
    {
        using var scope = torch.NewScope();
        if (!shape.SequenceEqual(other.shape)) return false;
        var diff = (this.to(ScalarType.Float64) - other.to(ScalarType.Float64)).abs();
        var tol = other.to(ScalarType.Float64).abs() * rtol + atol;
        return diff.le(tol).all().item<bool>();
    }

    // ---- unary ----
    public Tensor neg() => -this;
    public Tensor abs() => Wrap(Native.apt_abs(H), this);
    public Tensor exp() => Wrap(Native.apt_exp(H), this);
    public Tensor log() => Wrap(Native.apt_log(H), this);
    public Tensor log1p() => Wrap(Native.apt_log1p(H), this);
    public Tensor expm1() => Wrap(Native.apt_expm1(H), this);
    public Tensor sqrt() => Wrap(Native.apt_sqrt(H), this);
    public Tensor rsqrt() => Wrap(Native.apt_rsqrt(H), this);
    public Tensor sin() => Wrap(Native.apt_sin(H), this);
    public Tensor cos() => Wrap(Native.apt_cos(H), this);
    public Tensor tanh() => Wrap(Native.apt_tanh(H), this);
    public Tensor sigmoid() => Wrap(Native.apt_sigmoid(H), this);
    public Tensor relu() => Wrap(Native.apt_relu(H), this);
    public Tensor silu() => Wrap(Native.apt_silu(H), this);
    public Tensor erf() => Wrap(Native.apt_erf(H), this);
    public Tensor floor() => Wrap(Native.apt_floor(H), this);
    public Tensor ceil() => Wrap(Native.apt_ceil(H), this);
    public Tensor round() => Wrap(Native.apt_round(H), this);
    public Tensor sign() => Wrap(Native.apt_sign(H), this);
    public Tensor reciprocal() => Wrap(Native.apt_reciprocal(H), this);
    public Tensor square() => Wrap(Native.apt_square(H), this);
    public Tensor real() => Wrap(Native.apt_real(H), this);
    public Tensor imag() => Wrap(Native.apt_imag(H), this);
    public Tensor conj() => Wrap(Native.apt_conj(H), this);
    public Tensor clamp(double? min = null, double? max = null) =>
        Wrap(Native.apt_clamp(H, min ?? 0, min.HasValue ? 1 : 0, max ?? 0, max.HasValue ? 1 : 0), this);

    // ---- in place ----
    public Tensor add_(Tensor b, double alpha = 1) { Check(Native.apt_add_(H, b.H, alpha), this, b); return this; }
    public Tensor sub_(Tensor b, double alpha = 1) { Check(Native.apt_sub_(H, b.H, alpha), this, b); return this; }
    public Tensor mul_(Tensor b) { Check(Native.apt_mul_(H, b.H), this, b); return this; }
    public Tensor div_(Tensor b) { Check(Native.apt_div_(H, b.H), this, b); return this; }
    public Tensor add_(double v) { Check(Native.apt_add_s_(H, v), this); return this; }
    public Tensor mul_(double v) { Check(Native.apt_mul_s_(H, v), this); return this; }
    public Tensor div_(double v) { Check(Native.apt_div_s_(H, v), this); return this; }
    public Tensor addcmul_(Tensor t1, Tensor t2, double value = 1) { Check(Native.apt_addcmul_(H, t1.H, t2.H, value), this, t1, t2); return this; }
    public Tensor addcdiv_(Tensor t1, Tensor t2, double value = 1) { Check(Native.apt_addcdiv_(H, t1.H, t2.H, value), this, t1, t2); return this; }
    public Tensor lerp_(Tensor end, double weight) { Check(Native.apt_lerp_(H, end.H, weight), this, end); return this; }
    public Tensor zero_() { Check(Native.apt_zero_(H), this); return this; }
    public Tensor fill_(double v) { Check(Native.apt_fill_(H, v), this); return this; }
    public Tensor sqrt_() { Check(Native.apt_sqrt_(H), this); return this; }
    public Tensor clamp_(double? min = null, double? max = null)
    {
        Check(Native.apt_clamp_(H, min ?? 0, min.HasValue ? 1 : 0, max ?? 0, max.HasValue ? 1 : 0), this);
        return this;
    }
    public Tensor masked_fill_(Tensor mask, double v) { Check(Native.apt_masked_fill_(H, mask.H, v), this, mask); return this; }
    public Tensor uniform_(double a = 0, double b = 1, Generator? g = null) { Check(Native.apt_uniform_(H, a, b, g?.H ?? 0), this, g); return this; }
    public Tensor normal_(double mean = 0, double std = 1, Generator? g = null) { Check(Native.apt_normal_(H, mean, std, g?.H ?? 0), this, g); return this; }
    public Tensor bernoulli_(double p, Generator? g = null) { Check(Native.apt_bernoulli_(H, p, g?.H ?? 0), this, g); return this; }

    // ---- reductions ----
    private static int Dt(ScalarType? t) => t.HasValue ? (int)t.Value : -1;
    public unsafe Tensor sum() => Wrap(Native.apt_sum(H, null, 0, 0, -1), this);
    public unsafe Tensor sum(long[] dims, bool keepdim = false, ScalarType? dtype = null)
    { fixed (long* p = dims) return Wrap(Native.apt_sum(H, p, dims.Length, keepdim ? 1 : 0, Dt(dtype)), this); }
    public Tensor sum(long dim, bool keepdim = false) => sum(new[] { dim }, keepdim);
    public unsafe Tensor mean() => Wrap(Native.apt_mean(H, null, 0, 0, -1), this);
    public unsafe Tensor mean(long[] dims, bool keepdim = false, ScalarType? dtype = null)
    { fixed (long* p = dims) return Wrap(Native.apt_mean(H, p, dims.Length, keepdim ? 1 : 0, Dt(dtype)), this); }
    public Tensor mean(long dim, bool keepdim = false) => mean(new[] { dim }, keepdim);
    public Tensor prod() => Wrap(Native.apt_prod(H, 0, 0, 0), this);
    public Tensor prod(long dim, bool keepdim = false) => Wrap(Native.apt_prod(H, dim, 1, keepdim ? 1 : 0), this);
    /// <summary>Variance; <paramref name="correction"/> 1 is unbiased (PyTorch's default), 0 the population variance.</summary>
    public unsafe Tensor var(long[]? dims = null, long correction = 1, bool keepdim = false)
    { dims ??= []; fixed (long* p = dims) return Wrap(Native.apt_var(H, p, dims.Length, correction, keepdim ? 1 : 0), this); }
    public Tensor var(long dim, long correction = 1, bool keepdim = false) => var(new[] { dim }, correction, keepdim);
    public unsafe Tensor std(long[]? dims = null, long correction = 1, bool keepdim = false)
    { dims ??= []; fixed (long* p = dims) return Wrap(Native.apt_std(H, p, dims.Length, correction, keepdim ? 1 : 0), this); }
    public Tensor std(long dim, long correction = 1, bool keepdim = false) => std(new[] { dim }, correction, keepdim);
    public Tensor max() => Wrap(Native.apt_max_all(H), this);
    public Tensor min() => Wrap(Native.apt_min_all(H), this);
    public unsafe Tensor amax(long[] dims, bool keepdim = false)
    { fixed (long* p = dims) return Wrap(Native.apt_amax(H, p, dims.Length, keepdim ? 1 : 0), this); }
    public unsafe Tensor amin(long[] dims, bool keepdim = false)
    { fixed (long* p = dims) return Wrap(Native.apt_amin(H, p, dims.Length, keepdim ? 1 : 0), this); }
    /// <summary>Maximum along a dim: (values, indices).</summary>
    public unsafe (Tensor values, Tensor indices) max(long dim, bool keepdim = false)
    {
        IntPtr v, i;
        Check(Native.apt_max_dim(H, dim, keepdim ? 1 : 0, &v, &i), this);
        return (new Tensor(v), new Tensor(i));
    }
    public unsafe (Tensor values, Tensor indices) min(long dim, bool keepdim = false)
    {
        IntPtr v, i;
        Check(Native.apt_min_dim(H, dim, keepdim ? 1 : 0, &v, &i), this);
        return (new Tensor(v), new Tensor(i));
    }
    public unsafe (Tensor values, Tensor indices) sort(long dim = -1, bool descending = false)
    {
        IntPtr v, i;
        Check(Native.apt_sort(H, dim, descending ? 1 : 0, &v, &i), this);
        return (new Tensor(v), new Tensor(i));
    }
    public unsafe (Tensor values, Tensor indices) topk(long k, long dim = -1, bool largest = true)
    {
        IntPtr v, i;
        Check(Native.apt_topk(H, k, dim, largest ? 1 : 0, &v, &i), this);
        return (new Tensor(v), new Tensor(i));
    }
    public Tensor argmax() => Wrap(Native.apt_argmax(H, 0, 0, 0), this);
    public Tensor argmax(long dim, bool keepdim = false) => Wrap(Native.apt_argmax(H, dim, 1, keepdim ? 1 : 0), this);
    public Tensor argmin(long dim, bool keepdim = false) => Wrap(Native.apt_argmin(H, dim, 1, keepdim ? 1 : 0), this);
    public unsafe Tensor norm(double p = 2) => Wrap(Native.apt_norm(H, p, null, 0, 0), this);
    public unsafe Tensor norm(double p, long[] dims, bool keepdim = false)
    { fixed (long* d = dims) return Wrap(Native.apt_norm(H, p, d, dims.Length, keepdim ? 1 : 0), this); }
    public unsafe Tensor logsumexp(long[] dims, bool keepdim = false)
    { fixed (long* p = dims) return Wrap(Native.apt_logsumexp(H, p, dims.Length, keepdim ? 1 : 0), this); }
    public Tensor logsumexp(long dim, bool keepdim = false) => logsumexp(new[] { dim }, keepdim);
    public Tensor cumsum(long dim) => Wrap(Native.apt_cumsum(H, dim), this);
    public Tensor all() => Wrap(Native.apt_all(H), this);
    public Tensor any() => Wrap(Native.apt_any(H), this);

    // ---- matrix products ----
    public Tensor matmul(Tensor b) => Wrap(Native.apt_matmul(H, b.H), this, b);
    public Tensor mm(Tensor b) => Wrap(Native.apt_mm(H, b.H), this, b);
    public Tensor bmm(Tensor b) => Wrap(Native.apt_bmm(H, b.H), this, b);
    public Tensor outer(Tensor b) => Wrap(Native.apt_outer(H, b.H), this, b);
    /// <summary>beta * this + alpha * (a @ b), batched.</summary>
    public Tensor baddbmm(Tensor a, Tensor b, double beta = 1, double alpha = 1) =>
        Wrap(Native.apt_baddbmm(H, a.H, b.H, beta, alpha), this, a, b);
    public Tensor addmm(Tensor a, Tensor b, double beta = 1, double alpha = 1) =>
        Wrap(Native.apt_addmm(H, a.H, b.H, beta, alpha), this, a, b);
}
