using System.Globalization;
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
/// accumulation over micro-batches, global-norm clipping, optional per-block gradient checkpointing.
/// <para>Precision and parallelism follow the run's policy (docs/precision-and-parallelism.md): the model is held by an
/// <see cref="IParallelModule"/> (<see cref="ParallelModules.Wrap"/>). Under bf16-mixed a bf16 model computes in bf16
/// throughout while the trainable tensors have float32 masters, float32 accumulated gradients and float32 AdamW state
/// (the frozen base stays bf16); under fsdp each rank holds 1/N of the trainable masters, their gradients and AdamW
/// state and of the frozen base, gathering one block at a time (checkpointing is then switched on).</para>
/// <para>Randomness (timesteps, noise, prefix lengths) comes from one generator whose state is part of the checkpoint.
/// Every draw is made for the GLOBAL micro-batch (micro_batch × world_size samples) and each rank keeps its interleaved
/// rows (<see cref="Interleaved"/>), the layout in which <see cref="DistributedSampler"/> deals samples: N ranks with
/// micro_batch b therefore reproduce one process with micro_batch N·b (up to the order of float sums).</para>
/// <para>With a <see cref="ProcessGroup"/> rank 0's weights are broadcast at construction and the float32 gradients
/// averaged after the last micro-batch (ddp) or reduce-scattered per block (fsdp); only rank 0 writes checkpoints.</para>
/// </summary>
public sealed class OmniAvatarTrainer : IDisposable
{
    public const string CheckpointPrefix = "avatar";

    public OmniAvatarModel Model { get; }
    /// <summary>The model as trained: precision policy and parallel mode; its parameters() are what AdamW steps.</summary>
    public IParallelModule Wrapped { get; }
    public AvatarTrainerSettings Settings { get; }
    public AdamW Optimizer { get; }
    public LRScheduler Scheduler { get; }
    public AvatarTimesteps Timesteps { get; }
    public AvatarFlowMatchingLoss Objective { get; }
    /// <summary>Trainable parameters by state-dict name (the module's own: the compute copies).</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Trainable { get; }
    /// <summary>Completed optimizer steps.</summary>
    public int Step { get; private set; }
    public int Rank { get; }
    public int WorldSize { get; }
    /// <summary>The divergence check of each step (docs/reliability.md#7-diverged-runs): by default a non-finite loss or
    /// gradient norm stops the run before the update is applied.</summary>
    public NonFiniteGuard NonFinite { get; set; }

    private readonly Generator rng;
    private readonly ProcessGroup? group;

    /// <param name="group">the data-parallel ranks (ddp: null for one process; fsdp: required, a group of one for one
    /// process)</param>
    /// <param name="device">fsdp: where the shards live (default: the model's device)</param>
    public OmniAvatarTrainer(OmniAvatarModel model, AvatarTrainerSettings settings, ulong seed, ProcessGroup? group = null,
        Precision precision = Precision.Fp32, ParallelMode parallel = ParallelMode.Ddp, Device? device = null)
    {
        Settings = settings.Validate();
        Model = model;
        Trainable = AvatarTrainableParameters.Apply(model);
        model.GradientCheckpointing = settings.GradientCheckpointing || parallel == ParallelMode.Fsdp;   // FSDP regathers a block for its backward
        model.train();
        (this.group, Rank, WorldSize) = (group, group?.rank ?? 0, group?.world_size ?? 1);
        Wrapped = ParallelModules.Wrap(model, precision, parallel, group, device: device);
        NonFinite = new NonFiniteGuard("avatar", group: group);
        Optimizer = new AdamW(Wrapped.parameters(), settings.Lr, (settings.Beta1, settings.Beta2), settings.Eps, settings.WeightDecay);
        Scheduler = new LRScheduler(Optimizer, settings.WarmupSteps > 0 ? new LRSchedule.LinearWarmup(settings.WarmupSteps) : new LRSchedule.Constant());
        Timesteps = new AvatarTimesteps(settings.NumTrainTimesteps, settings.Shift);
        Objective = new AvatarFlowMatchingLoss { LossOnPrefixFrames = settings.LossOnPrefixFrames, ZeroReferenceAudio = settings.ZeroReferenceAudio };
        rng = new Generator(seed);
    }

    /// <summary>The random draws for this rank's micro-batch <paramref name="local"/>, made for the global batch.</summary>
    public AvatarDraw Draw(AvatarBatch local)
    {
        using var scope = torch.NewScope();
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

    /// <summary>One optimizer step over <see cref="AvatarTrainerSettings.Accumulation"/> micro-batches;
    /// <paramref name="data"/>(step, micro) returns THIS rank's micro-batch.</summary>
    public AvatarStepStats TrainStep(Func<int, int, AvatarBatch> data)
    {
        int acc = Settings.Accumulation;
        double loss = 0, mse = 0, tsum = 0;
        int tcount = 0;
        Wrapped.zero_grad();
        for (int m = 0; m < acc; m++)
        {
            using var scope = torch.NewScope();
            var batch = data(Step, m);
            var draw = Draw(batch);
            var output = Wrapped.forward(() => Objective.Compute(Model, batch, draw));
            Wrapped.backward(output.Loss / acc);
            loss += output.Loss.item<double>();
            mse += output.Mse.Average();
            tsum += output.Timesteps.Sum(t => t.Timestep);
            tcount += output.Timesteps.Length;
        }
        Wrapped.sync_gradients();
        var groupNorms = Wrapped.grad_norms(AvatarTrainableParameters.Group);
        double gradNorm = Settings.MaxGradNorm > 0 ? Wrapped.clip_grad_norm_(Settings.MaxGradNorm) : Math.Sqrt(groupNorms.Values.Sum(n => n * n));
        double lr = Optimizer.param_groups[0].lr;
        if (NonFinite.Allows(Step + 1, ("loss", loss / acc), ("grad_norm", gradNorm))) Wrapped.step(Optimizer);
        Scheduler.step();
        Wrapped.zero_grad();
        Step++;
        (loss, mse, tsum) = MeanOverRanks(loss / acc, mse / acc, tsum / tcount);
        return new AvatarStepStats(Step, loss, mse, gradNorm, lr, tsum, groupNorms) { Skipped = NonFinite.Skipped };
    }

    private (double, double, double) MeanOverRanks(double a, double b, double c)
    {
        if (group is null) return (a, b, c);
        using var scope = torch.NewScope();
        var t = torch.tensor(new[] { a, b, c }, 3);
        group.all_reduce(t, ReduceOp.Avg);
        var v = t.data<double>();
        return (v[0], v[1], v[2]);
    }

    /// <summary>The trained tensors (LoRA, audio modules, patch embedding) under their names, in the master dtype:
    /// a collective under fsdp (every rank calls it; rank 0 gets the tensors, the others an empty dict).</summary>
    public Dictionary<string, Tensor> TrainedWeights() => Wrapped.to_full(Wrapped.named_parameters());

    /// <summary>Everything a resumed run needs: the trainable weights ("model.*", masters), the optimizer ("optimizer.*",
    /// numbered as a whole-model AdamW over the trainable tensors) and the generator state ("rng_state"); the step goes
    /// into the metadata. A collective under fsdp (rank 0 gets the dict).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, t) in TrainedWeights()) d["model." + name] = t;
        foreach (var (k, v) in Wrapped.optimizer_state_dict(Optimizer)) d["optimizer." + k] = v;
        d["rng_state"] = rng.get_state();
        return d;
    }

    /// <summary>Restores <see cref="StateDict"/> written after step <paramref name="step"/> (at any world size and in
    /// either mode); the frozen weights must already be the same as in the run that wrote it.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null)
    {
        string where = source ?? "avatar trainer state";
        var missing = Trainable.Where(t => !state.ContainsKey("model." + t.name)).Select(t => t.name).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{where}: trainable tensors missing: {string.Join(", ", missing.Take(8))}");
        if (!state.TryGetValue("rng_state", out var rs)) throw new InvalidDataException($"{where}: no rng_state");
        Wrapped.load_parameters(state.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value), where);
        Wrapped.load_optimizer_state_dict(Optimizer, state.Where(kv => kv.Key.StartsWith("optimizer.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["optimizer.".Length..], kv => kv.Value), where);
        Scheduler.load_state_dict(new LRSchedulerState(step, Scheduler.base_lrs.ToArray()));
        rng.set_state(rs.contiguous());
        Step = step;
    }

    /// <summary>Writes the checkpoint of the current step into <paramref name="directory"/> from rank 0 (atomically);
    /// every rank waits until it is complete. Returns its path.</summary>
    public string SaveCheckpoint(string directory)
    {
        var path = Checkpoints.PathFor(directory, CheckpointPrefix, Step);
        using var scope = torch.NewScope();
        var state = StateDict();                                                       // a collective under fsdp
        DistributedRun.OnMainProcess(group, () =>
        {
            Directory.CreateDirectory(directory);
            Checkpoints.Save(directory, CheckpointPrefix, Step, state, new Dictionary<string, string>
            {
                ["world_size"] = WorldSize.ToString(CultureInfo.InvariantCulture), ["precision"] = Wrapped.precision.ToConfigString(),
            });
        });
        return path;
    }

    /// <summary>Continues from the newest checkpoint in <paramref name="directory"/> (rank 0's choice on every rank);
    /// returns its step, or null when there is none.</summary>
    public int? ResumeLatest(string directory)
    {
        var latest = Checkpoints.Latest(directory, CheckpointPrefix);
        if (group is not null) latest = DistributedRun.BroadcastString(group, group.IsMainProcess ? latest ?? "" : null) is { Length: > 0 } s ? s : null;
        if (latest is null) return null;
        using var state = Torch.IO.Safetensors.Load(latest);
        int step = int.Parse(state.Metadata["step"], CultureInfo.InvariantCulture);
        LoadStateDict(state, step, latest);
        return step;
    }

    /// <summary>Largest |difference| of the trainable masters between this rank and rank 0 (0 without a group): a
    /// replicated (ddp) run must keep them bit-identical. Null under fsdp, where no rank holds a replica.</summary>
    public double? MaxDeviationFromRankZero()
    {
        if (group is null) return 0;
        if (Wrapped is FullyShardedDataParallel) return null;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var flat = torch.cat(Wrapped.parameters().Select(t => t.detach().reshape(-1).to(ScalarType.Float64)).ToArray());
        var reference = flat.clone();
        group.broadcast(reference, 0);
        var dev = (flat - reference).abs().max().reshape(1);
        group.all_reduce(dev, ReduceOp.Max);
        return dev.item<double>();
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Wrapped.Dispose();
        rng.Dispose();
    }
}
