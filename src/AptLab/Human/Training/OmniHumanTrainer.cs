using System.Globalization;
using AptLab.Avatar.Data;
using AptLab.Avatar.Training;
using AptLab.Diffusion;
using AptLab.Human.Data;
using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Human.Training;

/// <summary>Scalars of one optimizer step (averaged over ranks and micro-batches; rates over the global batch).</summary>
public sealed record HumanStepStats(int Step, int Stage, double Loss, double GradNorm, double Lr, double MeanSigma,
    IReadOnlyDictionary<string, double> Rates, IReadOnlyDictionary<string, double> GroupGradNorms)
{
    public Dictionary<string, double> Scalars(string prefix = "train")
    {
        var d = new Dictionary<string, double>
        {
            [$"{prefix}/loss"] = Loss, [$"{prefix}/grad_norm"] = GradNorm, [$"{prefix}/lr"] = Lr, [$"{prefix}/stage"] = Stage,
            [$"{prefix}/sigma"] = MeanSigma,
        };
        foreach (var (k, v) in Rates) d[$"{prefix}/on_{k}"] = v;
        foreach (var (g, n) in GroupGradNorms) d[$"{prefix}/grad_norm_{g}"] = n;
        return d;
    }
}

/// <summary>
/// Trains OmniHuman through its stages (docs/omnihuman.md#training): AdamW over the trainable set
/// (<see cref="HumanTrainableParameters"/>), linear warmup, gradient accumulation, clipping, optional per-block gradient
/// checkpointing; the stage of the current step sets the condition ratios. The optimizer carries over from one stage to
/// the next (one run, one step counter). The step skeleton, the precision policy, the parallel mode and the checkpoints
/// are the shared <see cref="FineTuning"/> (docs/precision-and-parallelism.md): under bf16-mixed the trainable tensors
/// have float32 masters, float32 accumulated gradients and float32 AdamW state while the model computes in bf16; under
/// fsdp each rank holds 1/N of them (checkpointing is then switched on).
/// <para>Per micro-batch, one generator (its state in the checkpoint) draws for the GLOBAL micro-batch (micro_batch x
/// world_size samples): the conditions and clips (<see cref="OmniConditionSampler"/>), the noise levels σ = shift(u) and
/// the noise; each rank keeps its interleaved rows (<see cref="Interleaved"/>), so N ranks reproduce one process with N
/// times the micro-batch.</para>
/// </summary>
public sealed class OmniHumanTrainer : IDisposable
{
    public const string CheckpointPrefix = "omnihuman";

    public OmniHumanModel Model { get; }
    public HumanTrainerSettings Settings { get; }
    public HumanCachedDataset Data { get; }
    public OmniConditionSampler Sampler { get; }
    /// <summary>The shared fine-tune: wrapped model, optimizer, scheduler, generator, step, checkpoints.</summary>
    public FineTuning Run { get; }
    public IParallelModule Wrapped => Run.Wrapped;
    public AdamW Optimizer => Run.Optimizer;
    public LRScheduler Scheduler => Run.Scheduler;
    /// <summary>Trainable parameters by state-dict name (the module's own: the compute copies).</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Trainable => Run.Trainable;
    /// <summary>Completed optimizer steps (over all stages).</summary>
    public int Step => Run.Step;
    public int Rank => Run.Rank;
    public int WorldSize => Run.WorldSize;
    /// <summary>Where training computes.</summary>
    public Device Device { get; }
    /// <summary>The stage (1-based) of the next step.</summary>
    public int Stage => Settings.StageAt(Step);
    /// <summary>The divergence check of each step (docs/reliability.md#7-diverged-runs).</summary>
    public NonFiniteGuard NonFinite { get => Run.NonFinite; set => Run.NonFinite = value; }

    /// <param name="group">the data-parallel ranks (ddp: null for one process; fsdp: required, a group of one for one
    /// process)</param>
    /// <param name="device">where training computes (ddp: the model's device; fsdp: where the shards and the gathered
    /// block live); default: the model's device. Batches and draws are made on the host and moved there.</param>
    public OmniHumanTrainer(OmniHumanModel model, HumanTrainerSettings settings, HumanCachedDataset data, ulong seed, ProcessGroup? group = null,
        Precision precision = Precision.Fp32, ParallelMode parallel = ParallelMode.Ddp, Device? device = null)
    {
        Device = device ?? model.parameters().First().device;
        Settings = settings.Validate();
        (Model, Data) = (model, data);
        Sampler = data.Sampler();
        for (int i = 0; i < settings.Stages.Count; i++)
            if (settings.Stages[i].Steps > 0) Sampler.Check(settings.Stages[i].Ratios, $"stages[{i}].ratios");
        var trainable = HumanTrainableParameters.Apply(model, settings.Train);
        model.GradientCheckpointing = settings.GradientCheckpointing || parallel == ParallelMode.Fsdp;   // FSDP regathers a block for its backward
        model.train();
        Run = new FineTuning(CheckpointPrefix, model, trainable, settings, seed, group, precision, parallel, HumanTrainableParameters.Group, device);
    }

    /// <summary>This rank's micro-batch and its noise levels [b] and noise, drawn for the global micro-batch.</summary>
    public (HumanBatch batch, Tensor sigma, Tensor noise) Draw()
    {
        using var scope = torch.NewScope();
        var rng = Run.Rng;
        int b = Settings.MicroBatch, global = b * WorldSize;
        var ratios = Settings.Stages[Stage - 1].Ratios;
        var draws = Interleaved.Rows(Sampler.Draw(global, ratios, rng), Rank, WorldSize);
        var batch = Data.Batch(draws);
        var sigma = FlowMatch.SampleSigmas(global, Settings.Shift, rng);                    // [B_global]
        var shape = batch.Latents.shape.ToArray();
        shape[0] = global;
        var noise = torch.randn(shape, ScalarType.Float32, generator: rng);                 // [B_global, 16, F, h, w]
        batch = batch.To(Device).KeepIn(scope);
        return (batch, scope.Keep(Interleaved.Rows(sigma, Rank, WorldSize).to(Device)), scope.Keep(Interleaved.Rows(noise, Rank, WorldSize).to(Device)));
    }

    private static readonly string[] Conditions = ["text", "reference", "audio", "pose", "motion"];

    /// <summary>One optimizer step over <see cref="FineTuneSettings.Accumulation"/> micro-batches.</summary>
    public HumanStepStats TrainStep()
    {
        int stage = Stage;
        double sigmaSum = 0;
        var on = new double[Conditions.Length];
        int samples = 0;
        var r = Run.TrainStep(_ =>
        {
            var (batch, sigma, noise) = Draw();
            var output = Wrapped.forward(() => HumanFlowMatchingLoss.Compute(Model, batch, sigma, noise));
            sigmaSum += sigma.sum().item<double>();
            foreach (var d in batch.Draws)
            {
                on[0] += d.TextOn ? 1 : 0; on[1] += d.ReferenceOn ? 1 : 0; on[2] += d.AudioOn ? 1 : 0;
                on[3] += d.PoseOn ? 1 : 0; on[4] += d.MotionOn ? 1 : 0;
            }
            samples += batch.Draws.Length;
            return output.Loss;
        });
        var means = Run.MeanOverRanks([r.Loss, sigmaSum / samples, .. on.Select(v => v / samples)]);
        var rates = Conditions.Select((k, i) => (k, v: means[2 + i])).ToDictionary(p => p.k, p => p.v);
        return new HumanStepStats(Step, stage, means[0], r.GradNorm, r.Lr, means[1], rates, r.GroupGradNorms);
    }

    /// <summary>The whole model under its official names in the master dtype (float32 masters for the trained tensors,
    /// the frozen ones as they are), or in <paramref name="dtype"/>: a collective under fsdp (rank 0 gets the dict).</summary>
    public Dictionary<string, Tensor> Weights(ScalarType? dtype = null) => Wrapped.state_dict(dtype);

    /// <summary><see cref="FineTuning.StateDict"/>.</summary>
    public Dictionary<string, Tensor> StateDict() => Run.StateDict();

    /// <summary><see cref="FineTuning.LoadStateDict"/> (the frozen weights must be the run's own).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null) => Run.LoadStateDict(state, step, source);

    /// <summary>Writes the checkpoint of the current step from rank 0 (atomically, with the stage of the last step in
    /// its metadata); every rank waits. Returns its path.</summary>
    public string SaveCheckpoint(string directory) => Run.SaveCheckpoint(directory,
        new Dictionary<string, string> { ["stage"] = Settings.StageAt(Math.Max(0, Step - 1)).ToString(CultureInfo.InvariantCulture) });

    /// <summary>Continues from the newest checkpoint in <paramref name="directory"/> (rank 0's choice); returns its step or null.</summary>
    public int? ResumeLatest(string directory) => Run.ResumeLatest(directory);

    /// <summary><see cref="FineTuning.MaxDeviationFromRankZero"/>.</summary>
    public double? MaxDeviationFromRankZero() => Run.MaxDeviationFromRankZero();

    public void Dispose() => Run.Dispose();
}
