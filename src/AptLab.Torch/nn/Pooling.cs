namespace AptLab.Torch.nn;

/// <summary>Max pooling over the trailing kernel.Length dims (MaxPool1d/2d/3d); no parameters.</summary>
public class MaxPool(long[] kernel_size, long[]? stride = null, long[]? padding = null, bool ceil_mode = false) : Module<Tensor, Tensor>
{
    public readonly long[] kernel_size = kernel_size, stride = stride ?? kernel_size, padding = padding ?? new long[kernel_size.Length];
    public readonly bool ceil_mode = ceil_mode;
    public override Tensor forward(Tensor x) => F.max_pool(x, kernel_size, stride, padding, ceil_mode);
}

public sealed class MaxPool2d(long[] kernel_size, long[]? stride = null, long[]? padding = null, bool ceil_mode = false)
    : MaxPool(Two(kernel_size), stride is null ? null : Two(stride), padding is null ? null : Two(padding), ceil_mode)
{
    private static long[] Two(long[] v) => v.Length == 1 ? [v[0], v[0]] : v;
}

public sealed class MaxPool3d(long[] kernel_size, long[]? stride = null, long[]? padding = null, bool ceil_mode = false)
    : MaxPool(Three(kernel_size), stride is null ? null : Three(stride), padding is null ? null : Three(padding), ceil_mode)
{
    private static long[] Three(long[] v) => v.Length == 1 ? [v[0], v[0], v[0]] : v;
}

/// <summary>Average pooling over the trailing kernel.Length dims (AvgPool1d/2d/3d); no parameters.</summary>
public sealed class AvgPool(long[] kernel_size, long[]? stride = null, long[]? padding = null, bool ceil_mode = false,
    bool count_include_pad = true) : Module<Tensor, Tensor>
{
    public readonly long[] kernel_size = kernel_size, stride = stride ?? kernel_size, padding = padding ?? new long[kernel_size.Length];
    public override Tensor forward(Tensor x) => F.avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad);
}

/// <summary>Adaptive average pooling of the last two dims to [h, w] (AdaptiveAvgPool2d); no parameters.</summary>
public sealed class AdaptiveAvgPool2d(long h, long w) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor x) => F.adaptive_avg_pool2d(x, h, w);
}
