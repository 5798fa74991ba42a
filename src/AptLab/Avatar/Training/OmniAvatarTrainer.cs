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
    public Dictionary<string, double> Scalars(string prefix = "train")
    {
        var d = new Dictionary<string, double>
        {
            [$"{prefix}/loss"] = Loss, [$"{prefix}/mse"] = Mse, [$"{prefix}/grad_norm"] = GradNorm,
            [$"{prefix}/lr"] = Lr, [$"{prefix}/timestep"] = MeanTimestep,
        };
        foreach (var (g, n) in GroupGradNorms) d[$"{prefix}/grad_norm_{g}"] = n;
        return d;
    }
}

/// <summary>
/// Fine-tunes an OmniAvatar DiT (docs/omniavatar.md#training): AdamW over exactly the trainable set of
/// <see cref="AvatarTrainableParameters"/> (everything else requires_grad = false; in a bf16 model the trainable tensors
/// are upcast to float32 in place, as DiffSynth does, while the frozen base stays bf16), linear LR warmup, gradient
/// accumulation over micro-batches, global-norm clipping, optional per-block gradient checkpointing.
/// <para>Randomness (timesteps, noise, prefix lengths) comes from one generator whose state is part of the checkpoint.
/// Every draw is made for the GLOBAL micro-batch (micro_batch × world_size samples) and each rank keeps its interleaved
/// rows (<see cref="Interleaved"/>), the layout in which <see cref="DistributedSampler"/> deals samples: N ranks with
/// micro_batch b therefore reproduce one process with micro_batch N·b (up to the order of float sums).</para>
/// <para>With a <see cref="ProcessGroup"/> the model is wrapped in <see cref="DistributedDataParallel"/> (rank 0's
/// weights broadcast at construction, bucketed gradient averaging after the last micro-batch); only rank 0 writes
/// checkpoints.</para>
/// </summary>
public sealed class OmniAvatarTrainer : IDisposable
{
    public const string CheckpointPrefix = "avatar";

    public OmniAvatarModel Model { get; }
    public AvatarTrainerSettings Settings { get; }
    public AdamW Optimizer { get; }
    public LRScheduler Scheduler { get; }
    public AvatarTimesteps Timesteps { get; }
    public AvatarFlowMatchingLoss Objective { get; }
    /// <summary>Trainable parameters by state-dict name.</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Trainable { get; }
    /// <summary>Completed optimizer steps.</summary>
    public int Step { get; private set; }
    public int Rank { get; }
    public int WorldSize { get; }

    private readonly Generator rng;
    private readonly ProcessGroup? group;
    private readonly DistributedDataParallel? ddp;

    public OmniAvatarTrainer(OmniAvatarModel model, AvatarTrainerSettings settings, ulong seed, ProcessGroup? group = null)
    {
        Settings = settings.Validate();
        Model = model;
        Trainable = AvatarTrainableParameters.Apply(model);
        AvatarTrainableParameters.UpcastToFloat32(Trainable);                         // bf16 model: float32 trainable tensors (docs/omniavatar.md#training)
        model.GradientCheckpointing = settings.GradientCheckpointing;
        model.train();
        (this.group, Rank, WorldSize) = (group, group?.rank ?? 0, group?.world_size ?? 1);
        if (group is not null) ddp = new DistributedDataParallel(model, group);
        Optimizer = new AdamW(Trainable.Select(t => (Tensor)t.parameter), settings.Lr, (settings.Beta1, settings.Beta2), settings.Eps, settings.WeightDecay);
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
        Optimizer.zero_grad();
        for (int m = 0; m < acc; m++)
        {
            using var scope = torch.NewScope();
            var batch = data(Step, m);
            var draw = Draw(batch);
            var output = Objective.Compute(Model, batch, draw);
            (output.Loss / acc).backward();
            loss += output.Loss.item<double>();
            mse += output.Mse.Average();
            tsum += output.Timesteps.Sum(t => t.Timestep);
            tcount += output.Timesteps.Length;
        }
        ddp?.sync_gradients();
        var groupNorms = GroupGradNorms();
        double gradNorm;
        using (var scope = torch.NewScope())
            gradNorm = Settings.MaxGradNorm > 0
                ? ClipGrad.clip_grad_norm_(Trainable.Select(t => (Tensor)t.parameter), Settings.MaxGradNorm).item<double>()
                : Math.Sqrt(groupNorms.Values.Sum(n => n * n));
        double lr = Optimizer.param_groups[0].lr;
        Optimizer.step();
        Scheduler.step();
        Optimizer.zero_grad();
        Step++;
        (loss, mse, tsum) = MeanOverRanks(loss / acc, mse / acc, tsum / tcount);
        return new AvatarStepStats(Step, loss, mse, gradNorm, lr, tsum, groupNorms);
    }

    private Dictionary<string, double> GroupGradNorms()
    {
        using var scope = torch.NewScope();
        var sq = new Dictionary<string, double>();
        foreach (var (name, p) in Trainable)
        {
            var g = AvatarTrainableParameters.Group(name);
            double v = p.grad is { } grad ? grad.to(ScalarType.Float64).square().sum().item<double>() : 0;
            sq[g] = sq.GetValueOrDefault(g) + v;
        }
        return sq.ToDictionary(kv => kv.Key, kv => Math.Sqrt(kv.Value));
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

    /// <summary>Everything a resumed run needs: the trainable weights ("model.*"), the optimizer ("optimizer.*") and the
    /// generator state ("rng_state"); the step goes into the metadata.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, p) in Trainable) d["model." + name] = p.detach();
        foreach (var (k, v) in Optimizer.state_dict()) d["optimizer." + k] = v;
        d["rng_state"] = rng.get_state();
        return d;
    }

    /// <summary>Restores <see cref="StateDict"/> written after step <paramref name="step"/>; the frozen weights must
    /// already be the same as in the run that wrote it.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null)
    {
        string where = source ?? "avatar trainer state";
        var missing = Trainable.Where(t => !state.ContainsKey("model." + t.name)).Select(t => t.name).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{where}: trainable tensors missing: {string.Join(", ", missing.Take(8))}");
        if (!state.TryGetValue("rng_state", out var rs)) throw new InvalidDataException($"{where}: no rng_state");
        using (torch.no_grad())
            foreach (var (name, p) in Trainable)
            {
                var t = state["model." + name];
                if (!t.shape.SequenceEqual(p.shape))
                    throw new InvalidDataException($"{where}: model.{name} is [{string.Join(", ", t.shape)}], the model has [{string.Join(", ", p.shape)}]");
                p.copy_(t);
            }
        Optimizer.load_state_dict(state.Where(kv => kv.Key.StartsWith("optimizer.", StringComparison.Ordinal))
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
        DistributedRun.OnMainProcess(group, () =>
        {
            using var scope = torch.NewScope();
            Directory.CreateDirectory(directory);
            Checkpoints.Save(directory, CheckpointPrefix, Step, StateDict(),
                new Dictionary<string, string> { ["world_size"] = WorldSize.ToString(CultureInfo.InvariantCulture) });
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

    /// <summary>Largest |difference| of the trainable parameters between this rank and rank 0 (0 without a group): a
    /// data-parallel run must keep them bit-identical.</summary>
    public double MaxDeviationFromRankZero()
    {
        if (group is null) return 0;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var flat = torch.cat(Trainable.Select(t => t.parameter.detach().reshape(-1).to(ScalarType.Float64)).ToArray());
        var reference = flat.clone();
        group.broadcast(reference, 0);
        var dev = (flat - reference).abs().max().reshape(1);
        group.all_reduce(dev, ReduceOp.Max);
        return dev.item<double>();
    }

    public void Dispose()
    {
        ddp?.Dispose();
        Optimizer.Dispose();
        rng.Dispose();
    }
}
