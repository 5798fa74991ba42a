namespace AptLab.Torch;

/// <summary>torch.nn.functional.</summary>
public static unsafe partial class F
{
    public enum Reduction { None = 0, Mean = 1, Sum = 2 }
    public enum PadMode { Constant = 0, Reflect = 1, Replicate = 2, Circular = 3 }
    public enum InterpolateMode { Nearest = 0, Linear = 1, Bilinear = 2, Trilinear = 3, Bicubic = 4, NearestExact = 5 }

    public static Tensor linear(Tensor x, Tensor weight, Tensor? bias = null) =>
        Tensor.Wrap(Native.apt_linear(x.H, weight.H, bias?.H ?? 0), x, weight, bias);

    private static long[] Rep(long[]? v, int n, long dflt) => v is null ? Enumerable.Repeat(dflt, n).ToArray()
        : v.Length == 1 && n > 1 ? Enumerable.Repeat(v[0], n).ToArray()
        : v.Length == n ? v : throw new ArgumentException($"expected {n} values, got {v.Length}");

    /// <summary>conv1d/2d/3d by the weight's rank: x [B, Cin, *spatial], weight [Cout, Cin/groups, *k].</summary>
    public static Tensor conv(Tensor x, Tensor weight, Tensor? bias = null, long[]? stride = null, long[]? padding = null,
        long[]? dilation = null, long groups = 1)
    {
        int nd = weight.dim() - 2;
        long[] s = Rep(stride, nd, 1), p = Rep(padding, nd, 0), d = Rep(dilation, nd, 1);
        fixed (long* ps = s) fixed (long* pp = p) fixed (long* pd = d)
            return Tensor.Wrap(Native.apt_conv(x.H, weight.H, bias?.H ?? 0, ps, pp, pd, nd, groups), x, weight, bias);
    }
    public static Tensor conv1d(Tensor x, Tensor w, Tensor? b = null, long stride = 1, long padding = 0, long dilation = 1, long groups = 1) =>
        conv(x, w, b, [stride], [padding], [dilation], groups);
    public static Tensor conv2d(Tensor x, Tensor w, Tensor? b = null, long[]? stride = null, long[]? padding = null, long[]? dilation = null, long groups = 1) =>
        conv(x, w, b, stride, padding, dilation, groups);
    public static Tensor conv3d(Tensor x, Tensor w, Tensor? b = null, long[]? stride = null, long[]? padding = null, long[]? dilation = null, long groups = 1) =>
        conv(x, w, b, stride, padding, dilation, groups);

    /// <summary>conv_transpose1d/2d/3d by the weight's rank: weight [Cin, Cout/groups, *k].</summary>
    public static Tensor conv_transpose(Tensor x, Tensor weight, Tensor? bias = null, long[]? stride = null,
        long[]? padding = null, long[]? output_padding = null, long[]? dilation = null, long groups = 1)
    {
        int nd = weight.dim() - 2;
        long[] s = Rep(stride, nd, 1), p = Rep(padding, nd, 0), op = Rep(output_padding, nd, 0), d = Rep(dilation, nd, 1);
        fixed (long* ps = s) fixed (long* pp = p) fixed (long* pop = op) fixed (long* pd = d)
            return Tensor.Wrap(Native.apt_conv_transpose(x.H, weight.H, bias?.H ?? 0, ps, pp, pop, pd, nd, groups), x, weight, bias);
    }

    public static Tensor layer_norm(Tensor x, long[] normalized_shape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        fixed (long* p = normalized_shape)
            return Tensor.Wrap(Native.apt_layer_norm(x.H, p, normalized_shape.Length, weight?.H ?? 0, bias?.H ?? 0, eps), x, weight, bias);
    }
    public static Tensor group_norm(Tensor x, long num_groups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) =>
        Tensor.Wrap(Native.apt_group_norm(x.H, num_groups, weight?.H ?? 0, bias?.H ?? 0, eps), x, weight, bias);
    /// <summary>x * rsqrt(mean(x^2 over the normalized dims) + eps) * weight (in x's dtype).</summary>
    public static Tensor rms_norm(Tensor x, long[] normalized_shape, Tensor? weight = null, double eps = 1e-6)
    {
        fixed (long* p = normalized_shape)
            return Tensor.Wrap(Native.apt_rms_norm(x.H, p, normalized_shape.Length, weight?.H ?? 0, eps), x, weight);
    }

    public static Tensor softmax(Tensor x, long dim, ScalarType? dtype = null) => Tensor.Wrap(Native.apt_softmax(x.H, dim, dtype.HasValue ? (int)dtype.Value : -1), x);
    public static Tensor log_softmax(Tensor x, long dim, ScalarType? dtype = null) => Tensor.Wrap(Native.apt_log_softmax(x.H, dim, dtype.HasValue ? (int)dtype.Value : -1), x);
    /// <summary>GELU, exact (erf) or with the tanh approximation.</summary>
    public static Tensor gelu(Tensor x, bool tanh = false) => Tensor.Wrap(Native.apt_gelu(x.H, tanh ? 1 : 0), x);
    public static Tensor silu(Tensor x) => x.silu();
    public static Tensor relu(Tensor x) => x.relu();
    public static Tensor sigmoid(Tensor x) => x.sigmoid();
    public static Tensor leaky_relu(Tensor x, double negative_slope = 0.01) => Tensor.Wrap(Native.apt_leaky_relu(x.H, negative_slope), x);
    public static Tensor softplus(Tensor x, double beta = 1, double threshold = 20) => Tensor.Wrap(Native.apt_softplus(x.H, beta, threshold), x);
    public static Tensor logsigmoid(Tensor x) => Tensor.Wrap(Native.apt_log_sigmoid(x.H), x);
    public static Tensor dropout(Tensor x, double p = 0.5, bool training = true) => Tensor.Wrap(Native.apt_dropout(x.H, p, training ? 1 : 0), x);
    public static Tensor embedding(Tensor indices, Tensor weight) => Tensor.Wrap(Native.apt_embedding(weight.H, indices.H), weight, indices);
    /// <summary>The weight-norm reparametrisation w = g * v / ||v|| (norm over every dim but <paramref name="dim"/>).</summary>
    public static Tensor weight_norm(Tensor v, Tensor g, long dim = 0) => Tensor.Wrap(Native.apt_weight_norm(v.H, g.H, dim), v, g);

    /// <summary>
    /// softmax(q k^T * scale + mask) v. q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]; a boolean mask
    /// (true = attend) or an additive float mask broadcastable to [B, H, Lq, Lk]; scale defaults to 1/sqrt(D).
    /// Uses libtorch's fused kernel where it has one (>= 2.1), a composite of primitives otherwise.
    /// </summary>
    public static Tensor scaled_dot_product_attention(Tensor q, Tensor k, Tensor v, Tensor? attn_mask = null,
        double dropout_p = 0, bool is_causal = false, double? scale = null) =>
        Tensor.Wrap(Native.apt_attention(q.H, k.H, v.H, attn_mask?.H ?? 0, is_causal ? 1 : 0, scale ?? 0, dropout_p), q, k, new object?[] { v, attn_mask });

    /// <summary>Key-padding mask [B, 1, 1, Lk] (true = attend) from per-sample key lengths.</summary>
    public static Tensor key_padding_mask(Tensor lengths, long maxLen)
    {
        using var scope = torch.NewScope();
        var pos = torch.arange(maxLen, device: lengths.device);                // [Lk]
        var mask = pos.unsqueeze(0).lt(lengths.unsqueeze(1));                 // [B, Lk]
        return scope.Keep(mask.view(-1, 1, 1, maxLen));
    }

    public static Tensor pad(Tensor x, long[] pad, PadMode mode = PadMode.Constant, double value = 0)
    {
        fixed (long* p = pad) return Tensor.Wrap(Native.apt_pad(x.H, p, pad.Length, (int)mode, value), x);
    }

    /// <summary>F.interpolate with an output size (one entry per spatial dim).</summary>
    public static Tensor interpolate(Tensor x, long[] size, InterpolateMode mode = InterpolateMode.Nearest, bool align_corners = false)
    {
        fixed (long* s = size) return Tensor.Wrap(Native.apt_interpolate(x.H, s, null, size.Length, (int)mode, align_corners ? 1 : 0), x);
    }
    /// <summary>F.interpolate with scale factors (one entry per spatial dim).</summary>
    public static Tensor interpolate(Tensor x, double[] scale_factor, InterpolateMode mode = InterpolateMode.Nearest, bool align_corners = false)
    {
        fixed (double* s = scale_factor) return Tensor.Wrap(Native.apt_interpolate(x.H, null, s, scale_factor.Length, (int)mode, align_corners ? 1 : 0), x);
    }

    public static Tensor avg_pool2d(Tensor x, long kernel, long? stride = null, long padding = 0)
    {
        long[] k = [kernel, kernel], s = [stride ?? kernel, stride ?? kernel], p = [padding, padding];
        fixed (long* pk = k) fixed (long* ps = s) fixed (long* pp = p) return Tensor.Wrap(Native.apt_avg_pool2d(x.H, pk, ps, pp), x);
    }
    public static Tensor max_pool2d(Tensor x, long kernel, long? stride = null, long padding = 0)
    {
        long[] k = [kernel, kernel], s = [stride ?? kernel, stride ?? kernel], p = [padding, padding];
        fixed (long* pk = k) fixed (long* ps = s) fixed (long* pp = p) return Tensor.Wrap(Native.apt_max_pool2d(x.H, pk, ps, pp), x);
    }
    public static Tensor adaptive_avg_pool2d(Tensor x, long h, long w) => Tensor.Wrap(Native.apt_adaptive_avg_pool2d(x.H, h, w), x);

    /// <summary>max_pool1d/2d/3d by the kernel's length: x [B, C, *spatial]; stride defaults to the kernel.</summary>
    public static Tensor max_pool(Tensor x, long[] kernel, long[]? stride = null, long[]? padding = null, bool ceil_mode = false)
    {
        int nd = kernel.Length;
        long[] s = stride is null ? kernel : Rep(stride, nd, 1), p = Rep(padding, nd, 0);
        fixed (long* pk = kernel) fixed (long* ps = s) fixed (long* pp = p)
            return Tensor.Wrap(Native.apt_max_pool(x.H, pk, ps, pp, nd, ceil_mode ? 1 : 0), x);
    }
    public static Tensor max_pool3d(Tensor x, long[] kernel, long[]? stride = null, long[]? padding = null, bool ceil_mode = false) =>
        max_pool(x, Rep(kernel, 3, 1), stride, padding, ceil_mode);

    /// <summary>avg_pool1d/2d/3d by the kernel's length. <paramref name="count_include_pad"/> = false divides a border
    /// window by its number of real elements.</summary>
    public static Tensor avg_pool(Tensor x, long[] kernel, long[]? stride = null, long[]? padding = null, bool ceil_mode = false,
        bool count_include_pad = true)
    {
        int nd = kernel.Length;
        long[] s = stride is null ? kernel : Rep(stride, nd, 1), p = Rep(padding, nd, 0);
        fixed (long* pk = kernel) fixed (long* ps = s) fixed (long* pp = p)
            return Tensor.Wrap(Native.apt_avg_pool(x.H, pk, ps, pp, nd, ceil_mode ? 1 : 0, count_include_pad ? 1 : 0), x);
    }
    public static Tensor avg_pool3d(Tensor x, long[] kernel, long[]? stride = null, long[]? padding = null, bool ceil_mode = false,
        bool count_include_pad = true) => avg_pool(x, Rep(kernel, 3, 1), stride, padding, ceil_mode, count_include_pad);

    /// <summary>F.batch_norm over dim 1 of x [N, C, *]: with <paramref name="training"/> = false the running statistics
    /// normalise; when training, batch statistics do and the running buffers are updated in place with momentum.</summary>
    public static Tensor batch_norm(Tensor x, Tensor? running_mean, Tensor? running_var, Tensor? weight = null, Tensor? bias = null,
        bool training = false, double momentum = 0.1, double eps = 1e-5) =>
        Tensor.Wrap(Native.apt_batch_norm(x.H, running_mean?.H ?? 0, running_var?.H ?? 0, weight?.H ?? 0, bias?.H ?? 0,
            training ? 1 : 0, momentum, eps), x, weight, new object?[] { bias });

    public static Tensor mse_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
        Tensor.Wrap(Native.apt_mse_loss(input.H, target.H, (int)reduction), input, target);
    public static Tensor l1_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
        Tensor.Wrap(Native.apt_l1_loss(input.H, target.H, (int)reduction), input, target);
    /// <summary>Cross entropy of logits [N, C(, ...)] against class indices [N(, ...)].</summary>
    public static Tensor cross_entropy(Tensor logits, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean,
        long ignore_index = -100, double label_smoothing = 0) =>
        Tensor.Wrap(Native.apt_cross_entropy(logits.H, target.H, weight?.H ?? 0, (int)reduction, ignore_index, label_smoothing), logits, target, weight);
    public static Tensor binary_cross_entropy_with_logits(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean) =>
        Tensor.Wrap(Native.apt_bce_with_logits(logits.H, target.H, (int)reduction), logits, target);
}
