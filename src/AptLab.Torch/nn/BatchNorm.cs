namespace AptLab.Torch.nn;

/// <summary>
/// BatchNorm over dim 1 of x [N, C, *] (PyTorch's BatchNorm1d/2d/3d): weight and bias [C], buffers running_mean,
/// running_var [C] and num_batches_tracked (int64 scalar), so a PyTorch state dict loads under its own names. In eval
/// mode the running statistics normalise; in training mode the batch's do and the running ones move with momentum.
/// </summary>
public class BatchNorm : Module<Tensor, Tensor>
{
    public readonly Parameter? weight, bias;
    public readonly long num_features;
    public readonly double eps, momentum;

    public BatchNorm(long num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
        ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        (this.num_features, this.eps, this.momentum) = (num_features, eps, momentum);
        if (affine)
        {
            weight = RegisterParameter("weight", torch.ones([num_features], dtype, device));
            bias = RegisterParameter("bias", torch.zeros([num_features], dtype, device));
        }
        else { RegisterNullParameter("weight"); RegisterNullParameter("bias"); }
        RegisterBuffer("running_mean", torch.zeros([num_features], dtype, device));
        RegisterBuffer("running_var", torch.ones([num_features], dtype, device));
        RegisterBuffer("num_batches_tracked", torch.zeros([], ScalarType.Int64, device));
    }

    public Tensor running_mean => Buffer("running_mean");
    public Tensor running_var => Buffer("running_var");

    public override Tensor forward(Tensor x)                                 // x: [N, C, *]
    {
        if (training)
        {
            var tracked = Buffer("num_batches_tracked");
            using var _ = torch.no_grad();
            using var one = torch.ones([], ScalarType.Int64, tracked.device);   // an integer step (a double scalar would not cast)
            tracked.add_(one);
        }
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
    }
}

public sealed class BatchNorm1d(long num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
    ScalarType dtype = ScalarType.Float32, Device? device = null) : BatchNorm(num_features, eps, momentum, affine, dtype, device);
public sealed class BatchNorm2d(long num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
    ScalarType dtype = ScalarType.Float32, Device? device = null) : BatchNorm(num_features, eps, momentum, affine, dtype, device);
public sealed class BatchNorm3d(long num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
    ScalarType dtype = ScalarType.Float32, Device? device = null) : BatchNorm(num_features, eps, momentum, affine, dtype, device);
