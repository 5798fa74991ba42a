namespace AptLab.Torch.nn;

/// <summary>A module with one input and one output.</summary>
public abstract class Module<TIn, TOut> : Module
{
    public abstract TOut forward(TIn input);
    public TOut call(TIn input) => forward(input);
}

/// <summary>y = x W^T + b. weight [out, in], bias [out]. Initialised as PyTorch (kaiming-uniform a=sqrt 5).</summary>
public sealed class Linear : Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;
    public readonly long in_features, out_features;

    public Linear(long in_features, long out_features, bool bias = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.in_features = in_features;
        this.out_features = out_features;
        weight = RegisterParameter("weight", torch.empty([out_features, in_features], dtype, device));
        init.kaiming_uniform_(weight, a: Math.Sqrt(5));
        if (bias)
        {
            this.bias = RegisterParameter("bias", torch.empty([out_features], dtype, device));
            double bound = in_features > 0 ? 1 / Math.Sqrt(in_features) : 0;
            init.uniform_(this.bias, -bound, bound);
        }
        else RegisterNullParameter("bias");
    }

    /// <summary>An optional additive adapter (e.g. LoRA): <c>forward(x) = adapter.forward(x, x·Wᵀ + b)</c>. The adapter's
    /// own parameters are submodules of this layer (<see cref="Module.add_module"/>), so their state-dict keys read
    /// <c>&lt;layer&gt;.lora_A.default.weight</c>, while the base keys stay <c>&lt;layer&gt;.weight</c>.</summary>
    public ILinearAdapter? adapter { get; set; }

    public override Tensor forward(Tensor x)                                 // x: [..., in] -> [..., out]
    {
        if (adapter is null) return F.linear(x, weight, bias);
        return adapter.forward(x, F.linear(x, weight, bias));
    }
}

/// <summary>A computation added to a <see cref="Linear"/>'s output (LoRA). It receives the layer's input and base
/// output and returns the combined output (it owns the disposal of <c>baseOutput</c> if it replaces it).</summary>
public interface ILinearAdapter
{
    Tensor forward(Tensor x, Tensor baseOutput);
}

/// <summary>Convolution over 1, 2 or 3 spatial dims. weight [out, in/groups, *kernel].</summary>
public class ConvNd : Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;
    public readonly long[] stride, padding, dilation;
    public readonly long groups;

    protected ConvNd(long inChannels, long outChannels, long[] kernel, long[] stride, long[] padding, long[] dilation,
        long groups, bool bias, ScalarType dtype, Device? device)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"channels ({inChannels}, {outChannels}) must be divisible by groups ({groups})");
        (this.stride, this.padding, this.dilation, this.groups) = (stride, padding, dilation, groups);
        weight = RegisterParameter("weight", torch.empty([outChannels, inChannels / groups, .. kernel], dtype, device));
        init.kaiming_uniform_(weight, a: Math.Sqrt(5));
        if (bias)
        {
            long fanIn = inChannels / groups * kernel.Aggregate(1L, (a, b) => a * b);
            this.bias = RegisterParameter("bias", torch.empty([outChannels], dtype, device));
            double bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
            init.uniform_(this.bias, -bound, bound);
        }
        else RegisterNullParameter("bias");
    }

    public override Tensor forward(Tensor x) => F.conv(x, weight, bias, stride, padding, dilation, groups);

    protected static long[] N(long[] v, int n) => v.Length == n ? v : v.Length == 1 ? Enumerable.Repeat(v[0], n).ToArray()
        : throw new ArgumentException($"expected 1 or {n} values");
}

public sealed class Conv1d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0,
    long dilation = 1, long groups = 1, bool bias = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    : ConvNd(in_channels, out_channels, [kernel_size], [stride], [padding], [dilation], groups, bias, dtype, device);

public sealed class Conv2d(long in_channels, long out_channels, long[] kernel_size, long[]? stride = null, long[]? padding = null,
    long[]? dilation = null, long groups = 1, bool bias = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    : ConvNd(in_channels, out_channels, N(kernel_size, 2), N(stride ?? [1], 2), N(padding ?? [0], 2), N(dilation ?? [1], 2),
        groups, bias, dtype, device);

public sealed class Conv3d(long in_channels, long out_channels, long[] kernel_size, long[]? stride = null, long[]? padding = null,
    long[]? dilation = null, long groups = 1, bool bias = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    : ConvNd(in_channels, out_channels, N(kernel_size, 3), N(stride ?? [1], 3), N(padding ?? [0], 3), N(dilation ?? [1], 3),
        groups, bias, dtype, device);

/// <summary>LayerNorm over the trailing dims, with or without the affine weight [shape] and bias [shape].</summary>
public sealed class LayerNorm : Module<Tensor, Tensor>
{
    public readonly Parameter? weight, bias;
    public readonly long[] normalized_shape;
    public readonly double eps;

    public LayerNorm(long[] normalized_shape, double eps = 1e-5, bool elementwise_affine = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.normalized_shape = normalized_shape;
        this.eps = eps;
        if (elementwise_affine)
        {
            weight = RegisterParameter("weight", torch.ones(normalized_shape, dtype, device));
            bias = RegisterParameter("bias", torch.zeros(normalized_shape, dtype, device));
        }
    }
    public LayerNorm(long dim, double eps = 1e-5, bool elementwise_affine = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : this([dim], eps, elementwise_affine, dtype, device) { }

    public override Tensor forward(Tensor x) => F.layer_norm(x, normalized_shape, weight, bias, eps);
}

/// <summary>GroupNorm over [B, C, *]; weight and bias [C].</summary>
public sealed class GroupNorm : Module<Tensor, Tensor>
{
    public readonly Parameter? weight, bias;
    public readonly long num_groups;
    public readonly double eps;

    public GroupNorm(long num_groups, long num_channels, double eps = 1e-5, bool affine = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (num_channels % num_groups != 0) throw new ArgumentException($"num_channels {num_channels} not divisible by num_groups {num_groups}");
        this.num_groups = num_groups;
        this.eps = eps;
        if (affine)
        {
            weight = RegisterParameter("weight", torch.ones([num_channels], dtype, device));
            bias = RegisterParameter("bias", torch.zeros([num_channels], dtype, device));
        }
    }

    public override Tensor forward(Tensor x) => F.group_norm(x, num_groups, weight, bias, eps);
}

/// <summary>RMSNorm over the last dim with a weight [dim] (PyTorch 2.4's nn.RMSNorm).</summary>
public sealed class RMSNorm : Module<Tensor, Tensor>
{
    public readonly Parameter? weight;
    public readonly long dim;
    public readonly double eps;

    public RMSNorm(long dim, double eps = 1e-6, bool elementwise_affine = true, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        this.dim = dim;
        this.eps = eps;
        if (elementwise_affine) weight = RegisterParameter("weight", torch.ones([dim], dtype, device));
    }

    public override Tensor forward(Tensor x) => F.rms_norm(x, [dim], weight, eps);
}

/// <summary>A lookup table: weight [num_embeddings, embedding_dim], initialised N(0, 1).</summary>
public sealed class Embedding : Module<Tensor, Tensor>
{
    public readonly Parameter weight;

    public Embedding(long num_embeddings, long embedding_dim, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        weight = RegisterParameter("weight", torch.randn([num_embeddings, embedding_dim], dtype, device));
    }

    public override Tensor forward(Tensor indices) => F.embedding(indices, weight);  // [...] -> [..., dim]
}

public sealed class Dropout(double p = 0.5) : Module<Tensor, Tensor>
{
    public readonly double p = p;
    public override Tensor forward(Tensor x) => training && p > 0 ? F.dropout(x, p, true) : x.alias();
}

public sealed class Identity : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x) => x.alias();
}

public sealed class GELU(bool tanh = false) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x) => F.gelu(x, tanh);
}

public sealed class SiLU : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x) => x.silu();
}

public sealed class ReLU : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x) => x.relu();
}

public sealed class Tanh : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x) => x.tanh();
}
