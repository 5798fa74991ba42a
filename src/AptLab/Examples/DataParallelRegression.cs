using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Training;

namespace AptLab.Examples;

/// <summary>
/// The smallest complete data-parallel training run, used by `aptlab dist-selftest` and its tests: an MLP
/// regresses a fixed random dataset with MSE and plain SGD. Each rank draws its shard of every global batch
/// through a <see cref="DistributedSampler"/>, splits it into micro-batches accumulated under
/// <see cref="DistributedDataParallel.no_sync"/>, and the gradient average makes the step equal to one process
/// training on the whole global batch. Ranks start from different random weights on purpose: the initial
/// broadcast from rank 0 must make them equal.
/// </summary>
public static class DataParallelRegression
{
    public sealed record Options
    {
        public int Steps { get; init; } = 6;
        public int GlobalBatch { get; init; } = 16;
        public int Accumulation { get; init; } = 1;
        public int DatasetSize { get; init; } = 64;
        public double LearningRate { get; init; } = 0.1;
        public ulong Seed { get; init; } = 0;
        public long BucketCapBytes { get; init; } = DistributedDataParallel.DefaultBucketCapBytes;
    }

    public sealed class Mlp : Module<Tensor, Tensor>
    {
        private readonly Sequential net;
        public Mlp() => net = RegisterModule("net", new Sequential(
            new Linear(8, 32), new SiLU(), new Linear(32, 32), new SiLU(), new Linear(32, 4)));
        public override Tensor forward(Tensor x) => net.forward(x);   // x: [N, 8] -> [N, 4]
    }

    /// <summary>The dataset: inputs [N, 8] and targets [N, 4], the same on every rank (seeded).</summary>
    public static (Tensor x, Tensor y) Dataset(int n, ulong seed)
    {
        using var scope = torch.NewScope();
        using var g = new Generator(seed + 12345);
        var x = torch.randn([n, 8], generator: g);
        var w = torch.randn([8, 4], generator: g);
        var y = (x.matmul(w) * 0.5).sin();
        return (scope.Keep(x), scope.Keep(y));
    }

    /// <summary>Trains on this rank (or alone when <paramref name="group"/> is null); returns the losses of
    /// rank-local batches per step. The model is left trained.</summary>
    public static List<double> Train(Mlp model, ProcessGroup? group, Options o, TextWriter log)
    {
        int world = group?.world_size ?? 1;
        if (o.GlobalBatch % world != 0) throw new ArgumentException($"global batch {o.GlobalBatch} is not divisible by world size {world}");
        int local = o.GlobalBatch / world;
        if (local % o.Accumulation != 0) throw new ArgumentException($"rank batch {local} is not divisible by accumulation {o.Accumulation}");
        if (o.DatasetSize % o.GlobalBatch != 0) throw new ArgumentException($"dataset size {o.DatasetSize} is not a multiple of the global batch {o.GlobalBatch}");
        int micro = local / o.Accumulation, stepsPerEpoch = o.DatasetSize / o.GlobalBatch;

        var (x, y) = Dataset(o.DatasetSize, o.Seed);
        var sampler = DistributedSampler.For(group, o.DatasetSize, shuffle: true, seed: o.Seed);
        using var ddp = group is null ? null : new DistributedDataParallel(model, group, o.BucketCapBytes);
        if (ddp is not null && (group!.IsMainProcess))
            log.WriteLine($"data-parallel: {world} ranks, {ddp.BucketCount} gradient buckets ({string.Join(", ", ddp.BucketBytes)} bytes)");
        var parameters = model.parameters().ToArray();
        var losses = new List<double>();
        long[] indices = [];
        for (int step = 0; step < o.Steps; step++)
        {
            int epoch = step / stepsPerEpoch, within = step % stepsPerEpoch;
            if (within == 0)
            {
                sampler.set_epoch(epoch);
                indices = sampler.Indices();
            }
            double stepLoss = 0;
            for (int m = 0; m < o.Accumulation; m++)
            {
                using var scope = torch.NewScope();
                var idx = torch.tensor(indices.AsSpan(within * local + m * micro, micro).ToArray(), [micro]);
                // loss of the micro-batch / accumulation: the summed gradients are the rank batch's mean
                var loss = F.mse_loss(model.forward(x.index_select(0, idx)), y.index_select(0, idx)) / (double)o.Accumulation;
                stepLoss += loss.item<double>();
                bool last = m == o.Accumulation - 1;
                if (ddp is null) loss.backward();
                else if (last) ddp.backward(loss);
                else using (ddp.no_sync()) ddp.backward(loss);
            }
            using (torch.no_grad())
                foreach (var p in parameters) { using var grad = p.grad!; p.add_(grad, -o.LearningRate); p.grad = null; }
            losses.Add(stepLoss);
            log.WriteLine($"step {step}  loss {stepLoss:F6}");
        }
        x.Dispose();
        y.Dispose();
        return losses;
    }
}
