using System.Globalization;
using AptLab.Apt;
using AptLab.Wan;
using AptLab.Torch.Distributed;
using AptLab.Torch.IO;
using AptLab.Training;
using AptLab.Torch.nn;

namespace AptLab.Examples;

/// <summary>
/// The APT loop on tiny Wan models, alone or data-parallel (replicated or fully sharded, in any precision), for
/// `aptlab dist-selftest --mode apt` and its tests:
/// a generator and a discriminator (3 blocks, heads on all of them) trained on a synthetic stream of latents and
/// text contexts drawn from the update's generator. The data callback returns the GLOBAL micro-batch, so N ranks
/// with global batch B reproduce one process with micro_batch B. Ranks start from different random weights on
/// purpose: the trainer's broadcast from rank 0 must make them equal. R1 and R2 are both on, so that every
/// random draw of the loop is exercised.
/// </summary>
public static class DataParallelApt
{
    public sealed record Options
    {
        public int Updates { get; init; } = 3;
        /// <summary>Samples per global micro-batch (split over the ranks).</summary>
        public int GlobalMicroBatch { get; init; } = 4;
        public int Accumulation { get; init; } = 2;
        public ulong Seed { get; init; }
        /// <summary>Rank 0 writes the trainer state here after update <see cref="CheckpointAt"/>.</summary>
        public string? Checkpoint { get; init; }
        public int CheckpointAt { get; init; } = 2;
        /// <summary>Models and data in float64: then the ranks' different summation order stays far below any
        /// tolerance (in float32 RMSprop's g / sqrt(v) turns rounding in near-zero gradients into ~1e-5 drifts).</summary>
        public bool Float64 { get; init; }
        /// <summary>A trainer checkpoint to continue from: a consolidated file, or (FSDP) a shards folder.</summary>
        public string? Resume { get; init; }
        public ParallelMode Parallel { get; init; } = ParallelMode.Ddp;
        public AptLab.Training.Precision Precision { get; init; } = AptLab.Training.Precision.Fp32;
        /// <summary>The trainer's own checkpoint (FSDP: every rank's shard and rank 0's consolidated file) is written
        /// into this folder after update <see cref="CheckpointAt"/>, with the prefix "apt".</summary>
        public string? CheckpointDir { get; init; }
        /// <summary>After training, measure this rank's live tensor bytes (see <see cref="Result.Memory"/>).</summary>
        public bool MeasureMemory { get; init; }
    }

    /// <summary>Stats columns of <see cref="Result.Stats"/>.</summary>
    public static readonly string[] Columns = ["loss_d", "loss_g", "r1", "r2", "logit_real", "logit_fake", "grad_norm_d", "grad_norm_g"];

    /// <param name="Stats">[updates run, 8] float64, one row per update (<see cref="Columns"/>)</param>
    /// <param name="FirstUpdate">the update index of the first row (0, or the resumed step)</param>
    /// <param name="Generator">the generator's weights (master dtype; under FSDP on rank 0 only)</param>
    /// <param name="Memory">with <see cref="Options.MeasureMemory"/>: "live_bytes" = this rank's CPU tensor storage
    /// holding G's and D's weights, gradients (of one more backward each), RMSprop states and the EMA, measured by the
    /// shim's allocator against the figure before the models were built; "gathered_peak_bytes" = the peak above that
    /// during a no-grad forward of G (the root and one block gathered, plus tiny activations); and, computed from the
    /// layout for comparison, "shard_bytes", "largest_block_bytes", "root_bytes" of G</param>
    public sealed record Result(Tensor Stats, int FirstUpdate, Dictionary<string, Tensor> Generator, Dictionary<string, Tensor> Ema,
        Dictionary<string, long>? Memory = null);

    public static readonly WanConfig Config = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    private static WanFlowModel Tiny(ScalarType dtype)
    {
        var m = new WanFlowModel(new WanModel(Config, dtype));
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);   // the official zero init would give v = 0
        return m;
    }

    public static Result Train(ProcessGroup? group, Options o, TextWriter log)
    {
        int world = group?.world_size ?? 1, rank = group?.rank ?? 0;
        if (o.GlobalMicroBatch % world != 0)
            throw new ArgumentException($"global micro-batch {o.GlobalMicroBatch} does not split over {world} ranks");
        var dtype = o.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = torch.cpu_memory_allocated();
        torch.manual_seed(o.Seed + 1000UL * (ulong)rank);
        using var gen = Tiny(dtype);
        using var disc = new Discriminator(Tiny(dtype), [0, 1, 2]);
        disc.to(dtype);                                                       // the read-out heads are built in float32
        var settings = new AptPhaseSettings
        {
            Updates = o.Updates, MicroBatch = o.GlobalMicroBatch / world, Accumulation = o.Accumulation,
            LrGenerator = 1e-3, LrDiscriminator = 1e-3, EmaDecay = 0.9, DiscriminatorShift = 3, R2Lambda = 10,
        };
        RealBatch Data(long update, int micro, Generator g)
        {
            var x = torch.randn([o.GlobalMicroBatch, Config.InDim, 1, 4, 4], dtype, generator: g) * 0.5 + 0.3;   // [B, 16, 1, 4, 4]
            var ctx = torch.randn([o.GlobalMicroBatch, 5, Config.TextDim], dtype, generator: g);                   // [B, 5, 48]
            return new RealBatch(x, new Conditioning(ctx));
        }
        using var trainer = new AptTrainer(gen, disc, settings, o.Seed, Data, group, o.Precision, o.Parallel);
        if (o.Resume is not null) trainer.Resume(o.Resume);
        int first = trainer.Step;
        var rows = new List<double>();
        while (trainer.Step < o.Updates)
        {
            using var s = trainer.Update();
            double[] row = [s.LossD, s.LossG, s.R1, s.R2, s.RealLogit, s.FakeLogit, s.GradNormD, s.GradNormG];
            rows.AddRange(row);
            log.WriteLine(FormattableString.Invariant($"update {trainer.Step}  loss_d {s.LossD:R}  loss_g {s.LossG:R}  logits {s.RealLogits.size(0)}"));
            if (o.Checkpoint is not null && trainer.Step == o.CheckpointAt)
            {
                using var scope = torch.NewScope();
                var state = trainer.StateDict();                                  // a collective under FSDP
                DistributedRun.OnMainProcess(group, () => Checkpoint.Save(o.Checkpoint, state,
                    new Dictionary<string, string> { ["step"] = trainer.Step.ToString(CultureInfo.InvariantCulture) }));
            }
            if (o.CheckpointDir is not null && trainer.Step == o.CheckpointAt) trainer.SaveCheckpoint(o.CheckpointDir, "apt");
        }
        var stats = torch.tensor(rows.ToArray(), rows.Count / Columns.Length, Columns.Length).DetachFromScope();
        RealBatch ProbeBatch() { using var g = new Generator(o.Seed); return Data(o.Updates, 0, g); }
        var memory = o.MeasureMemory ? MeasureMemory(trainer, gen, disc, ProbeBatch, baseline, rank, world) : null;
        return new Result(stats, first, Clone(trainer.G.state_dict()), Clone(trainer.EmaStateDict()), memory);
    }

    // After one more backward of D and of G (gradients kept): this rank's live tensor bytes above the baseline taken
    // before the models existed, then the peak above that during a no-grad forward of G with one sample.
    private static Dictionary<string, long> MeasureMemory(AptTrainer trainer, WanFlowModel gen, Discriminator disc, Func<RealBatch> batch,
        long baseline, int rank, int world)
    {
        var shard = new BatchShard(rank, world);
        using (var scope = torch.NewScope())
        {
            var (x, c) = shard.Of(batch());
            using var rng = new Generator(1);
            var t = torch.rand([x.size(0)], generator: rng);
            trainer.D.backward(trainer.D.forward(() => disc.forward(x, t, c)).mean());
            disc.requires_grad_(false);
            var fake = trainer.G.forward(() => OneStepGenerator.Generate(gen, torch.randn(x.shape, generator: rng), c));
            trainer.G.backward(trainer.D.forward(() => disc.forward(fake, t, c)).mean());
            trainer.D.post_backward();
            disc.requires_grad_(true);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long live = torch.cpu_memory_allocated() - baseline;
        torch.cpu_reset_peak_memory_stats();
        long before = torch.cpu_memory_allocated();
        using (var scope = torch.NewScope())
        using (torch.no_grad())
        {
            var (x, c) = shard.Of(batch());
            trainer.G.forward(() => OneStepGenerator.Generate(gen, torch.zeros(x.shape).narrow(0, 0, 1), new Conditioning(c.Context.narrow(0, 0, 1))));
        }
        long gatheredPeak = torch.cpu_max_memory_allocated() - before;
        trainer.G.zero_grad();
        trainer.D.zero_grad();
        var d = new Dictionary<string, long> { ["live_bytes"] = live, ["gathered_peak_bytes"] = gatheredPeak };
        if (trainer.G is FullyShardedDataParallel f)
        {
            d["shard_bytes"] = f.ShardBytes;
            d["largest_block_bytes"] = f.LargestBlockBytes;
            d["root_bytes"] = f.RootBytes;
        }
        return d;
    }

    private static Dictionary<string, Tensor> Clone(Dictionary<string, Tensor> d) =>
        d.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromScope());

    /// <summary>The result as one safetensors file: generator.*, ema.*, "stats", "first_update" and memory.* (int64
    /// scalars).</summary>
    public static void Save(string path, Result r)
    {
        using var scope = torch.NewScope();
        var d = new Dictionary<string, Tensor> { ["stats"] = r.Stats, ["first_update"] = torch.tensor(new long[] { r.FirstUpdate }, 1) };
        foreach (var (k, v) in r.Generator) d["generator." + k] = v;
        foreach (var (k, v) in r.Ema) d["ema." + k] = v;
        foreach (var (k, v) in r.Memory ?? new Dictionary<string, long>()) d["memory." + k] = torch.tensor(new[] { v }, 1);
        Checkpoint.Save(path, d);
    }
}
