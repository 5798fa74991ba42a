using AptLab.Avatar.Training;
using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Human.Training;

/// <summary>
/// The trained network as <see cref="OmniHumanTrainer"/> drives it: precision and data parallelism behind the method
/// names of the framework's parallel-module API (<c>parameters</c>, <c>forward</c>, <c>backward</c>,
/// <c>sync_gradients</c>, <c>clip_grad_norm_</c>, <c>step</c>, <c>zero_grad</c>), so the trainer never touches them
/// itself. This implementation: in a bf16 model the trainable tensors are upcast to float32 in place (the OmniAvatar
/// fine-tune's rule: float32 masters, gradients and AdamW state; the frozen base stays bf16) and, with a process group,
/// gradients are averaged by <see cref="DistributedDataParallel"/> (rank 0's weights broadcast at construction).
/// The precision policy (<c>bf16-mixed</c>) and FSDP replace this class by an <c>IParallelModule</c> built over the same
/// trainable set; nothing else in the trainer changes (docs/omnihuman.md#training).
/// </summary>
internal sealed class TrainedNetwork : IDisposable
{
    private readonly IReadOnlyList<(string name, Parameter parameter)> trainable;
    private readonly DistributedDataParallel? ddp;

    public TrainedNetwork(Module model, IReadOnlyList<(string name, Parameter parameter)> trainable, ProcessGroup? group)
    {
        this.trainable = trainable;
        UpcastToFloat32(trainable);
        if (group is not null) ddp = new DistributedDataParallel(model, group);
    }

    /// <summary>What the optimizer steps.</summary>
    public IReadOnlyList<Tensor> parameters() => trainable.Select(t => (Tensor)t.parameter).ToList();

    public T forward<T>(Func<T> body) => body();

    public void backward(Tensor loss) => loss.backward();

    public void sync_gradients() => ddp?.sync_gradients();

    /// <summary>Clips the global gradient norm to <paramref name="maxNorm"/> (0: no clipping); returns the norm before.</summary>
    public double clip_grad_norm_(double maxNorm)
    {
        using var scope = torch.NewScope();
        if (maxNorm > 0) return ClipGrad.clip_grad_norm_(parameters(), maxNorm).item<double>();
        return Math.Sqrt(trainable.Sum(t => t.parameter.grad is { } g ? g.to(ScalarType.Float64).square().sum().item<double>() : 0));
    }

    public void step(Optimizer optimizer) => optimizer.step();

    public void zero_grad(Optimizer optimizer) => optimizer.zero_grad();

    public void Dispose() => ddp?.Dispose();

    // 16-bit trainable tensors become float32 (their masters) before the first backward; frozen ones stay as they are.
    private static void UpcastToFloat32(IEnumerable<(string name, Parameter parameter)> trainable)
    {
        using var _ = torch.no_grad();
        foreach (var (_, p) in trainable)
        {
            if (p.dtype is not (ScalarType.BFloat16 or ScalarType.Float16)) continue;
            using var master = p.detach().to(ScalarType.Float32);
            p.set_data(master);
        }
    }
}
