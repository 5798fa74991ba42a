using AptLab.Torch.Distributed;
using AptLab.Torch.optim;
using AptLab.Training;
using AptLab.Avatar.Data;

namespace AptLab.Avatar.Training;

/// <summary>Scalars of one optimizer step (averaged over ranks and micro-batches).</summary>
public sealed record AvatarStepStats(int Step, double Loss, double Mse, double GradNorm, double Lr, double MeanTimestep,
    IReadOnlyDictionary<string, double> GroupGradNorms)
{
    /// <summary>Steps skipped so far for non-finite values (skip mode).</summary>
    public int Skipped { get; init; }

    public Dictionary<string, double> Scalars(string prefix = "train")
    {
        var d = new Dictionary<string, double>
        {
            [$"{prefix}/loss"] = Loss, [$"{prefix}/mse"] = Mse, [$"{prefix}/grad_norm"] = GradNorm,
            [$"{prefix}/lr"] = Lr, [$"{prefix}/timestep"] = MeanTimestep,
        };
        foreach (var (g, n) in GroupGradNorms) d[$"{prefix}/grad_norm_{g}"] = n;
        if (Skipped > 0) d[$"{prefix}/skipped_steps"] = Skipped;
        return d;
    }
}

/// <summary>
/// Fine-tunes an OmniAvatar DiT (docs/omniavatar.md#training): AdamW over exactly the trainable set of
/// <see cref="AvatarTrainableParameters"/> (everything else requires_grad = false), linear LR warmup, gradient
/// accumulation over micro-batches, global-norm clipping, optional per-block gradient checkpointing; the step skeleton,
/// precision, parallelism and checkpoints are the shared <see cref="FineTuning"/>.
/// <para>Precision and parallelism follow the run's policy (docs/precision-and-parallelism.md): under bf16-mixed a bf16
/// model computes in bf16 throughout while the trainable tensors have float32 masters, float32 accumulated gradients and
/// float32 AdamW state (the frozen base stays bf16); under fsdp each rank holds 1/N of the trainable masters, their
/// gradients and AdamW state and of the frozen base, gathering one block at a time (checkpointing is then switched on).</para>
/// <para>Randomness (timesteps, noise, prefix lengths) comes from one generator whose state is part of the checkpoint.
/// Every draw is made for the GLOBAL micro-batch (micro_batch × world_size samples) and each rank keeps its interleaved
/// rows (<see cref="Interleaved"/>), the layout in which <see cref="DistributedSampler"/> deals samples: N ranks with
/// micro_batch b therefore reproduce one process with micro_batch N·b (up to the order of float sums).</para>
/// </summary>
public sealed class OmniAvatarTrainer : IDisposable
{
    public const string CheckpointPrefix = "avatar";

    public OmniAvatarModel Model { get; }
    public AvatarTrainerSettings Settings { get; }
    /// <summary>The shared fine-tune: wrapped model, optimizer, scheduler, generator, step, checkpoints.</summary>
    public FineTuning Run { get; }
    /// <summary>The model as trained: precision policy and parallel mode; its parameters() are what AdamW steps.</summary>
    public IParallelModule Wrapped => Run.Wrapped;
    public AdamW Optimizer => Run.Optimizer;
    public LRScheduler Scheduler => Run.Scheduler;
    public AvatarTimesteps Timesteps { get; }
    public AvatarFlowMatchingLoss Objective { get; }
    /// <summary>Trainable parameters by state-dict name (the module's own: the compute copies).</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Trainable => Run.Trainable;
    /// <summary>Completed optimizer steps.</summary>
    public int Step => Run.Step;
    public int Rank => Run.Rank;
    public int WorldSize => Run.WorldSize;
    /// <summary>The divergence check of each step (docs/reliability.md#7-diverged-runs).</summary>
    public NonFiniteGuard NonFinite { get => Run.NonFinite; set => Run.NonFinite = value; }

    /// <param name="group">the data-parallel ranks (ddp: null for one process; fsdp: required, a group of one for one
    /// process)</param>
    /// <param name="device">fsdp: where the shards live (default: the model's device)</param>
    public OmniAvatarTrainer(OmniAvatarModel model, AvatarTrainerSettings settings, ulong seed, ProcessGroup? group = null,
        Precision precision = Precision.Fp32, ParallelMode parallel = ParallelMode.Ddp, Device? device = null)
    {
        Settings = settings.Validate();
        Model = model;
        var trainable = AvatarTrainableParameters.Apply(model);
        model.GradientCheckpointing = settings.GradientCheckpointing || parallel == ParallelMode.Fsdp;   // FSDP regathers a block for its backward
        model.train();
        Run = new FineTuning(CheckpointPrefix, model, trainable, settings, seed, group, precision, parallel, AvatarTrainableParameters.Group, device);
        Timesteps = new AvatarTimesteps(settings.NumTrainTimesteps, settings.Shift);
        Objective = new AvatarFlowMatchingLoss { LossOnPrefixFrames = settings.LossOnPrefixFrames, ZeroReferenceAudio = settings.ZeroReferenceAudio };
    }

    /// <summary>The random draws for this rank's micro-batch <paramref name="local"/>, made for the global batch.</summary>
    public AvatarDraw Draw(AvatarBatch local)
    {
        using var scope = torch.NewScope();
        var rng = Run.Rng;
        long b = local.Size, global = b * WorldSize;
        var ts = Timesteps.Sample(global, rng);
        var shape = local.Latents.shape.ToArray();
        shape[0] = global;
        var noise = torch.randn(shape, ScalarType.Float32, generator: rng);                 // [B_global, 16, F, h, w]
        int[] prefix;
        if (Settings.MinPrefixFrames == Settings.MaxPrefixFrames) prefix = Enumerable.Repeat(Settings.MinPrefixFrames, (int)global).ToArray();
        else prefix = torch.randint(Settings.MinPrefixFrames, Settings.MaxPrefixFrames + 1, [global], generator: rng).data<long>().Select(v => (int)v).ToArray();
        bool[]? drop = null;                                                             // drawn only when on: the stream is unchanged otherwise
        if (Settings.AudioDropout > 0) drop = torch.rand([global], generator: rng).data<float>().Select(u => u < Settings.AudioDropout).ToArray();
        return new AvatarDraw(Interleaved.Rows(ts, Rank, WorldSize), scope.Keep(Interleaved.Rows(noise, Rank, WorldSize)),
            Interleaved.Rows(prefix, Rank, WorldSize), drop is null ? null : Interleaved.Rows(drop, Rank, WorldSize));
    }

    /// <summary>One optimizer step over <see cref="FineTuneSettings.Accumulation"/> micro-batches;
    /// <paramref name="data"/>(step, micro) returns THIS rank's micro-batch.</summary>
    public AvatarStepStats TrainStep(Func<int, int, AvatarBatch> data)
    {
        double mse = 0, tsum = 0;
        int tcount = 0, step = Step;
        var r = Run.TrainStep(m =>
        {
            var batch = data(step, m);
            var draw = Draw(batch);
            var output = Wrapped.forward(() => Objective.Compute(Model, batch, draw));
            mse += output.Mse.Average();
            tsum += output.Timesteps.Sum(t => t.Timestep);
            tcount += output.Timesteps.Length;
            return output.Loss;
        });
        var means = Run.MeanOverRanks(r.Loss, mse / Settings.Accumulation, tsum / tcount);
        return new AvatarStepStats(Step, means[0], means[1], r.GradNorm, r.Lr, means[2], r.GroupGradNorms) { Skipped = NonFinite.Skipped };
    }

    /// <summary>The trained tensors (LoRA, audio modules, patch embedding) under their names, in the master dtype:
    /// a collective under fsdp (every rank calls it; rank 0 gets the tensors, the others an empty dict).</summary>
    public Dictionary<string, Tensor> TrainedWeights() => Run.TrainedWeights();

    /// <summary><see cref="FineTuning.StateDict"/>.</summary>
    public Dictionary<string, Tensor> StateDict() => Run.StateDict();

    /// <summary><see cref="FineTuning.LoadStateDict"/>.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null) => Run.LoadStateDict(state, step, source);

    /// <summary>Writes the checkpoint of the current step (rank 0; every rank waits). Returns its path.</summary>
    public string SaveCheckpoint(string directory) => Run.SaveCheckpoint(directory);

    /// <summary>Continues from the newest checkpoint in <paramref name="directory"/>; returns its step, or null.</summary>
    public int? ResumeLatest(string directory) => Run.ResumeLatest(directory);

    /// <summary><see cref="FineTuning.MaxDeviationFromRankZero"/>.</summary>
    public double? MaxDeviationFromRankZero() => Run.MaxDeviationFromRankZero();

    public void Dispose() => Run.Dispose();
}
