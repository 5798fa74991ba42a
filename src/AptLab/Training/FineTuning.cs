using System.Globalization;
using AptLab.Torch.Distributed;
using AptLab.Torch.IO;
using AptLab.Torch.nn;
using AptLab.Torch.optim;

namespace AptLab.Training;

/// <summary>The optimisation every flow-matching fine-tune shares (OmniAvatar, OmniHuman): AdamW, linear warmup,
/// clipping, micro-batches, checkpointing, the training noise shift. Each trainer's settings derive from it and add
/// their own keys.</summary>
public abstract record FineTuneSettings
{
    public double Lr { get; init; } = 1e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 1e-2;
    /// <summary>Linear warmup from 0 over this many optimizer steps (0: none).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Clip the global gradient norm to this value (0: no clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Samples per micro-batch on each rank.</summary>
    public int MicroBatch { get; init; } = 1;
    /// <summary>Micro-batches accumulated per optimizer step.</summary>
    public int Accumulation { get; init; } = 1;
    /// <summary>Recompute each DiT block in backward (switched on under fsdp whatever this says).</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>Training noise levels σ = shift(u, s) (docs/flow-matching.md#shift).</summary>
    public double Shift { get; init; } = 5.0;

    /// <summary>Checks the shared keys; errors read "&lt;settings type&gt;.&lt;key&gt;: why".</summary>
    protected void ValidateShared()
    {
        string type = GetType().Name;
        void Fail(string key, string why) => throw new ArgumentException($"{type}.{key}: {why}");
        foreach (var (key, v) in new[] { (nameof(Lr), Lr), (nameof(Beta1), Beta1), (nameof(Beta2), Beta2), (nameof(Eps), Eps),
                     (nameof(WeightDecay), WeightDecay), (nameof(MaxGradNorm), MaxGradNorm), (nameof(Shift), Shift) })
            if (!double.IsFinite(v)) Fail(key, $"must be a finite number, got {v}");
        if (!(Lr > 0)) Fail(nameof(Lr), $"must be positive, got {Lr}");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) Fail("Betas", $"must lie in [0, 1), got ({Beta1}, {Beta2})");
        if (!(Eps > 0)) Fail(nameof(Eps), $"must be positive, got {Eps}");
        if (!(WeightDecay >= 0)) Fail(nameof(WeightDecay), $"must be >= 0, got {WeightDecay}");
        if (WarmupSteps < 0) Fail(nameof(WarmupSteps), $"must be >= 0, got {WarmupSteps}");
        if (!(MaxGradNorm >= 0)) Fail(nameof(MaxGradNorm), $"must be >= 0, got {MaxGradNorm}");
        if (MicroBatch < 1) Fail(nameof(MicroBatch), $"must be >= 1, got {MicroBatch}");
        if (Accumulation < 1) Fail(nameof(Accumulation), $"must be >= 1, got {Accumulation}");
        if (!(Shift > 0)) Fail(nameof(Shift), $"must be positive, got {Shift}");
    }
}

/// <summary>
/// The step skeleton and checkpoints of a fine-tune (docs/precision-and-parallelism.md#adopting-the-policy), shared by
/// <c>OmniAvatarTrainer</c> and <c>OmniHumanTrainer</c>: the model held by an <see cref="IParallelModule"/> under the
/// run's precision and parallel mode, AdamW over its parameters() (float32 masters under bf16-mixed; this rank's flat
/// shards under fsdp), linear warmup, gradient accumulation over micro-batches, global-norm clipping, the divergence
/// guard, and one generator for every random draw. A trainer supplies the loss of a micro-batch and its own draws.
/// <para>Checkpoints (rank 0, atomically): the trained tensors under their names ("model.*", the masters), the optimizer
/// numbered as a whole-model AdamW over them ("optimizer.*") and the generator state ("rng_state"); readable at any world
/// size and in either mode.</para>
/// </summary>
public sealed class FineTuning : IDisposable
{
    public string CheckpointPrefix { get; }
    /// <summary>The model as trained: precision policy and parallel mode; its parameters() are what AdamW steps.</summary>
    public IParallelModule Wrapped { get; }
    /// <summary>Trainable parameters by state-dict name (the module's own: the compute copies).</summary>
    public IReadOnlyList<(string name, Parameter parameter)> Trainable { get; }
    public AdamW Optimizer { get; }
    public LRScheduler Scheduler { get; }
    /// <summary>The generator of the trainer's draws (its state is in the checkpoint).</summary>
    public Generator Rng { get; }
    public ProcessGroup? Group { get; }
    public int Rank { get; }
    public int WorldSize { get; }
    /// <summary>Elements of the trainable tensors and of the whole model, counted before wrapping (under fsdp the
    /// module's parameters hold no storage afterwards).</summary>
    public long TrainableElements { get; }
    public long ModelElements { get; }
    /// <summary>Completed optimizer steps.</summary>
    public int Step { get; private set; }
    /// <summary>The divergence check of each step (docs/reliability.md#7-diverged-runs): by default a non-finite loss or
    /// gradient norm stops the run before the update is applied.</summary>
    public NonFiniteGuard NonFinite { get; set; }

    private readonly FineTuneSettings settings;
    private readonly Func<string, string> groupOf;

    /// <param name="trainable">the parameters with requires_grad (the rest of <paramref name="model"/> is frozen)</param>
    /// <param name="group">ddp: the ranks (null: one process); fsdp: required (a group of one for one process)</param>
    /// <param name="groupOf">a trainable tensor's group for the per-group gradient norms</param>
    /// <param name="device">fsdp: where the shards live (default: the model's device)</param>
    public FineTuning(string checkpointPrefix, Module model, IReadOnlyList<(string name, Parameter parameter)> trainable,
        FineTuneSettings settings, ulong seed, ProcessGroup? group, Precision precision, ParallelMode parallel,
        Func<string, string> groupOf, Device? device = null)
    {
        (CheckpointPrefix, Trainable, this.settings, this.groupOf, Group) = (checkpointPrefix, trainable, settings, groupOf, group);
        (Rank, WorldSize) = (group?.rank ?? 0, group?.world_size ?? 1);
        (TrainableElements, ModelElements) = (trainable.Sum(t => t.parameter.numel()), model.num_parameters());
        Wrapped = ParallelModules.Wrap(model, precision, parallel, group, device: device);
        NonFinite = new NonFiniteGuard(checkpointPrefix, group: group);
        Optimizer = new AdamW(Wrapped.parameters(), settings.Lr, (settings.Beta1, settings.Beta2), settings.Eps, settings.WeightDecay);
        Scheduler = new LRScheduler(Optimizer, settings.WarmupSteps > 0 ? new LRSchedule.LinearWarmup(settings.WarmupSteps) : new LRSchedule.Constant());
        Rng = new Generator(seed);
    }

    /// <summary>What one step measured on this rank: the mean micro-batch loss, and the global gradient norm (before
    /// clipping), its per-group parts and the step's learning rate.</summary>
    public sealed record StepResult(double Loss, double GradNorm, double Lr, Dictionary<string, double> GroupGradNorms);

    /// <summary>One optimizer step over <see cref="FineTuneSettings.Accumulation"/> micro-batches:
    /// <paramref name="microBatchLoss"/>(m) runs micro-batch m's forward through <see cref="IParallelModule.forward"/> and
    /// returns its loss (in the caller's scope); each is back-propagated divided by the accumulation.</summary>
    public StepResult TrainStep(Func<int, Tensor> microBatchLoss)
    {
        int acc = settings.Accumulation;
        double loss = 0;
        Wrapped.zero_grad();
        for (int m = 0; m < acc; m++)
        {
            using var scope = torch.NewScope();
            var l = microBatchLoss(m);
            Wrapped.backward(l / acc);
            loss += l.item<double>();
        }
        Wrapped.sync_gradients();
        var groupNorms = Wrapped.grad_norms(groupOf);
        double gradNorm = settings.MaxGradNorm > 0 ? Wrapped.clip_grad_norm_(settings.MaxGradNorm) : Math.Sqrt(groupNorms.Values.Sum(n => n * n));
        double lr = Optimizer.param_groups[0].lr;
        if (NonFinite.Allows(Step + 1, ("loss", loss / acc), ("grad_norm", gradNorm))) Wrapped.step(Optimizer);
        Scheduler.step();
        Wrapped.zero_grad();
        Step++;
        return new StepResult(loss / acc, gradNorm, lr, groupNorms);
    }

    /// <summary>The means of <paramref name="values"/> over the ranks (themselves without a group).</summary>
    public double[] MeanOverRanks(params double[] values)
    {
        if (Group is null) return values;
        using var scope = torch.NewScope();
        var t = torch.tensor(values, values.Length);
        Group.all_reduce(t, ReduceOp.Avg);
        return t.data<double>();
    }

    /// <summary>The trained tensors under their names, in the master dtype: a collective under fsdp (every rank calls
    /// it; rank 0 gets the tensors, the others an empty dict).</summary>
    public Dictionary<string, Tensor> TrainedWeights() => Wrapped.to_full(Wrapped.named_parameters());

    /// <summary>Everything a resumed run needs ("model.*", "optimizer.*", "rng_state"); a collective under fsdp (rank 0
    /// gets the dict).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, t) in TrainedWeights()) d["model." + name] = t;
        foreach (var (k, v) in Wrapped.optimizer_state_dict(Optimizer)) d["optimizer." + k] = v;
        d["rng_state"] = Rng.get_state();
        return d;
    }

    /// <summary>Restores <see cref="StateDict"/> written after step <paramref name="step"/> (at any world size and in
    /// either mode); the frozen weights must already be those of the run that wrote it.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null)
    {
        string where = source ?? $"{CheckpointPrefix} trainer state";
        var missing = Trainable.Where(t => !state.ContainsKey("model." + t.name)).Select(t => t.name).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{where}: trainable tensors missing: {string.Join(", ", missing.Take(8))}");
        if (!state.TryGetValue("rng_state", out var rs)) throw new InvalidDataException($"{where}: no rng_state");
        Wrapped.load_parameters(Part(state, "model."), where);
        Wrapped.load_optimizer_state_dict(Optimizer, Part(state, "optimizer."), where);
        Scheduler.load_state_dict(new LRSchedulerState(step, Scheduler.base_lrs.ToArray()));
        Rng.set_state(rs.contiguous());
        Step = step;
    }

    private static Dictionary<string, Tensor> Part(IReadOnlyDictionary<string, Tensor> state, string prefix) =>
        state.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    /// <summary>Writes the checkpoint of the current step into <paramref name="directory"/> from rank 0 (atomically;
    /// metadata: step, world size, precision and <paramref name="metadata"/>); every rank waits until it is complete.
    /// Returns its path.</summary>
    public string SaveCheckpoint(string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var path = Checkpoints.PathFor(directory, CheckpointPrefix, Step);
        using var scope = torch.NewScope();
        var state = StateDict();                                                       // a collective under fsdp
        DistributedRun.OnMainProcess(Group, () =>
        {
            Directory.CreateDirectory(directory);
            var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
            {
                ["world_size"] = WorldSize.ToString(CultureInfo.InvariantCulture), ["precision"] = Wrapped.precision.ToConfigString(),
            };
            Checkpoints.Save(directory, CheckpointPrefix, Step, state, meta);
        });
        return path;
    }

    /// <summary>Continues from the newest checkpoint in <paramref name="directory"/> (rank 0's choice on every rank);
    /// returns its step, or null when there is none.</summary>
    public int? ResumeLatest(string directory)
    {
        var latest = Checkpoints.Latest(directory, CheckpointPrefix);
        if (Group is not null) latest = DistributedRun.BroadcastString(Group, Group.IsMainProcess ? latest ?? "" : null) is { Length: > 0 } s ? s : null;
        if (latest is null) return null;
        using var state = Safetensors.Load(latest);
        int step = int.Parse(state.Metadata["step"], CultureInfo.InvariantCulture);
        LoadStateDict(state, step, latest);
        return step;
    }

    /// <summary>Largest |difference| of the trainable masters between this rank and rank 0 (0 without a group): a
    /// replicated (ddp) run must keep them bit-identical. Null under fsdp, where no rank holds a replica.</summary>
    public double? MaxDeviationFromRankZero()
    {
        if (Group is null) return 0;
        if (Wrapped is FullyShardedDataParallel) return null;
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var flat = torch.cat(Wrapped.parameters().Select(t => t.detach().reshape(-1).to(ScalarType.Float64)).ToArray());
        var reference = flat.clone();
        Group.broadcast(reference, 0);
        var dev = (flat - reference).abs().max().reshape(1);
        Group.all_reduce(dev, ReduceOp.Max);
        return dev.item<double>();
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Wrapped.Dispose();
        Rng.Dispose();
    }
}
