using System.Globalization;
using AptLab.Apt;
using AptLab.Wan;
using AptLab.Torch.Distributed;
using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Examples;

/// <summary>
/// The APT loop on tiny Wan models, alone or data-parallel, for `aptlab dist-selftest --mode apt` and its tests:
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
        /// <summary>A trainer checkpoint to continue from.</summary>
        public string? Resume { get; init; }
    }

    /// <summary>Stats columns of <see cref="Result.Stats"/>.</summary>
    public static readonly string[] Columns = ["loss_d", "loss_g", "r1", "r2", "logit_real", "logit_fake", "grad_norm_d", "grad_norm_g"];

    /// <param name="Stats">[updates run, 8] float64, one row per update (<see cref="Columns"/>)</param>
    /// <param name="FirstUpdate">the update index of the first row (0, or the resumed step)</param>
    public sealed record Result(Tensor Stats, int FirstUpdate, Dictionary<string, Tensor> Generator, Dictionary<string, Tensor> Ema);

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
        using var trainer = new AptTrainer(gen, disc, settings, o.Seed, Data, group);
        if (o.Resume is not null)
        {
            using var state = Checkpoint.Load(o.Resume);
            trainer.LoadStateDict(state, int.Parse(state.Metadata["step"], CultureInfo.InvariantCulture), o.Resume);
        }
        int first = trainer.Step;
        var rows = new List<double>();
        while (trainer.Step < o.Updates)
        {
            using var s = trainer.Update();
            double[] row = [s.LossD, s.LossG, s.R1, s.R2, s.RealLogit, s.FakeLogit, s.GradNormD, s.GradNormG];
            rows.AddRange(row);
            log.WriteLine(FormattableString.Invariant($"update {trainer.Step}  loss_d {s.LossD:R}  loss_g {s.LossG:R}  logits {s.RealLogits.size(0)}"));
            if (o.Checkpoint is not null && trainer.Step == o.CheckpointAt)
                DistributedRun.OnMainProcess(group, () => Checkpoint.Save(o.Checkpoint, trainer.StateDict(),
                    new Dictionary<string, string> { ["step"] = trainer.Step.ToString(CultureInfo.InvariantCulture) }));
        }
        var stats = torch.tensor(rows.ToArray(), rows.Count / Columns.Length, Columns.Length).DetachFromScope();
        var ema = (WanFlowModel)gen.Copy();
        trainer.Ema.copy_to(ema.Module);
        var result = new Result(stats, first, Clone(gen.Module.state_dict()), Clone(ema.Module.state_dict()));
        ema.Dispose();
        return result;
    }

    private static Dictionary<string, Tensor> Clone(Dictionary<string, Tensor> d) =>
        d.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromScope());

    /// <summary>The result as one safetensors file: generator.*, ema.*, "stats" and "first_update".</summary>
    public static void Save(string path, Result r)
    {
        using var scope = torch.NewScope();
        var d = new Dictionary<string, Tensor> { ["stats"] = r.Stats, ["first_update"] = torch.tensor(new long[] { r.FirstUpdate }, 1) };
        foreach (var (k, v) in r.Generator) d["generator." + k] = v;
        foreach (var (k, v) in r.Ema) d["ema." + k] = v;
        Checkpoint.Save(path, d);
    }
}
