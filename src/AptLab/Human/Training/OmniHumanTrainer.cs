using System.Globalization;
using AptLab.Avatar.Data;
using AptLab.Avatar.Training;
using AptLab.Diffusion;
using AptLab.Human.Data;
using AptLab.Torch.Distributed;
using AptLab.Torch.IO;
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
/// the next (one run, one step counter).
/// <para>Per micro-batch, one generator (its state in the checkpoint) draws for the GLOBAL micro-batch (micro_batch x
/// world_size samples): the conditions and clips (<see cref="OmniConditionSampler"/>), the noise levels σ = shift(u) and
/// the noise; each rank keeps its interleaved rows (<see cref="Interleaved"/>), so N ranks reproduce one process with N
/// times the micro-batch. Precision and data parallelism sit behind <see cref="TrainedNetwork"/>.</para>
/// </summary>
public sealed class OmniHumanTrainer : IDisposable
{
    public const string CheckpointPrefix = "omnihuman";

    public OmniHumanModel Model { get; }
    public HumanTrainerSettings Settings { get; }
    public HumanCachedDataset Data { get; }
    public OmniConditionSampler Sampler { get; }
    public AdamW Optimizer { get; }
    public LRScheduler Scheduler { get; }
    public IReadOnlyList<(string name, Parameter parameter)> Trainable { get; }
    /// <summary>Completed optimizer steps (over all stages).</summary>
    public int Step { get; private set; }
    public int Rank { get; }
    public int WorldSize { get; }
    /// <summary>The stage (1-based) of the next step.</summary>
    public int Stage => Settings.StageAt(Step);

    private readonly Generator rng;
    private readonly ProcessGroup? group;
    private readonly TrainedNetwork net;

    public OmniHumanTrainer(OmniHumanModel model, HumanTrainerSettings settings, HumanCachedDataset data, ulong seed, ProcessGroup? group = null)
    {
        Settings = settings.Validate();
        (Model, Data, this.group) = (model, data, group);
        Sampler = data.Sampler();
        for (int i = 0; i < settings.Stages.Count; i++)
            if (settings.Stages[i].Steps > 0) Sampler.Check(settings.Stages[i].Ratios, $"stages[{i}].ratios");
        (Rank, WorldSize) = (group?.rank ?? 0, group?.world_size ?? 1);
        Trainable = HumanTrainableParameters.Apply(model, settings.Train);
        net = new TrainedNetwork(model, Trainable, group);
        model.GradientCheckpointing = settings.GradientCheckpointing;
        model.train();
        Optimizer = new AdamW(net.parameters(), settings.Lr, (settings.Beta1, settings.Beta2), settings.Eps, settings.WeightDecay);
        Scheduler = new LRScheduler(Optimizer, settings.WarmupSteps > 0 ? new LRSchedule.LinearWarmup(settings.WarmupSteps) : new LRSchedule.Constant());
        rng = new Generator(seed);
    }

    /// <summary>This rank's micro-batch and its noise levels [b] and noise, drawn for the global micro-batch.</summary>
    public (HumanBatch batch, Tensor sigma, Tensor noise) Draw()
    {
        using var scope = torch.NewScope();
        int b = Settings.MicroBatch, global = b * WorldSize;
        var ratios = Settings.Stages[Stage - 1].Ratios;
        var draws = Interleaved.Rows(Sampler.Draw(global, ratios, rng), Rank, WorldSize);
        var batch = Data.Batch(draws);
        var sigma = FlowMatch.SampleSigmas(global, Settings.Shift, rng);                    // [B_global]
        var shape = batch.Latents.shape.ToArray();
        shape[0] = global;
        var noise = torch.randn(shape, ScalarType.Float32, generator: rng);                 // [B_global, 16, F, h, w]
        batch.KeepIn(scope);
        return (batch, scope.Keep(Interleaved.Rows(sigma, Rank, WorldSize)), scope.Keep(Interleaved.Rows(noise, Rank, WorldSize)));
    }

    /// <summary>One optimizer step over <see cref="HumanTrainerSettings.Accumulation"/> micro-batches.</summary>
    public HumanStepStats TrainStep()
    {
        int acc = Settings.Accumulation, stage = Stage;
        double loss = 0, sigmaSum = 0;
        var on = new Dictionary<string, double> { ["text"] = 0, ["reference"] = 0, ["audio"] = 0, ["pose"] = 0, ["motion"] = 0 };
        int samples = 0;
        net.zero_grad(Optimizer);
        for (int m = 0; m < acc; m++)
        {
            using var scope = torch.NewScope();
            var (batch, sigma, noise) = Draw();
            var output = net.forward(() => HumanFlowMatchingLoss.Compute(Model, batch, sigma, noise));
            net.backward(output.Loss / acc);
            loss += output.Loss.item<double>();
            sigmaSum += sigma.sum().item<double>();
            foreach (var d in batch.Draws)
            {
                on["text"] += d.TextOn ? 1 : 0; on["reference"] += d.ReferenceOn ? 1 : 0; on["audio"] += d.AudioOn ? 1 : 0;
                on["pose"] += d.PoseOn ? 1 : 0; on["motion"] += d.MotionOn ? 1 : 0;
            }
            samples += batch.Draws.Length;
        }
        net.sync_gradients();
        var groupNorms = GroupGradNorms();
        double gradNorm = net.clip_grad_norm_(Settings.MaxGradNorm);
        double lr = Optimizer.param_groups[0].lr;
        net.step(Optimizer);
        Scheduler.step();
        net.zero_grad(Optimizer);
        Step++;
        var means = MeanOverRanks([loss / acc, sigmaSum / samples, .. on.Values.Select(v => v / samples)]);
        var rates = on.Keys.Select((k, i) => (k, means[2 + i])).ToDictionary(p => p.k, p => p.Item2);
        return new HumanStepStats(Step, stage, means[0], gradNorm, lr, means[1], rates, groupNorms);
    }

    private Dictionary<string, double> GroupGradNorms()
    {
        using var scope = torch.NewScope();
        var sq = new Dictionary<string, double>();
        foreach (var (name, p) in Trainable)
        {
            var g = HumanTrainableParameters.Group(name);
            sq[g] = sq.GetValueOrDefault(g) + (p.grad is { } grad ? grad.to(ScalarType.Float64).square().sum().item<double>() : 0);
        }
        return sq.ToDictionary(kv => kv.Key, kv => Math.Sqrt(kv.Value));
    }

    private double[] MeanOverRanks(double[] values)
    {
        if (group is null) return values;
        using var scope = torch.NewScope();
        var t = torch.tensor(values, values.Length);
        group.all_reduce(t, ReduceOp.Avg);
        return t.data<double>();
    }

    /// <summary>The trainable weights ("model.*"), the optimizer ("optimizer.*") and the generator state; the step goes
    /// into the metadata.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, p) in Trainable) d["model." + name] = p.detach();
        foreach (var (k, v) in Optimizer.state_dict()) d["optimizer." + k] = v;
        d["rng_state"] = rng.get_state();
        return d;
    }

    /// <summary>Restores <see cref="StateDict"/> written after step <paramref name="step"/> (the frozen weights must be the
    /// run's own).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, int step, string? source = null)
    {
        string where = source ?? "omnihuman trainer state";
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

    /// <summary>Writes the checkpoint of the current step from rank 0 (atomically); every rank waits. Returns its path.</summary>
    public string SaveCheckpoint(string directory)
    {
        var path = Checkpoints.PathFor(directory, CheckpointPrefix, Step);
        DistributedRun.OnMainProcess(group, () =>
        {
            using var scope = torch.NewScope();
            Directory.CreateDirectory(directory);
            Checkpoints.Save(directory, CheckpointPrefix, Step, StateDict(),
                new Dictionary<string, string> { ["world_size"] = WorldSize.ToString(CultureInfo.InvariantCulture), ["stage"] = Settings.StageAt(Math.Max(0, Step - 1)).ToString(CultureInfo.InvariantCulture) });
        });
        return path;
    }

    /// <summary>Continues from the newest checkpoint in <paramref name="directory"/> (rank 0's choice); returns its step or null.</summary>
    public int? ResumeLatest(string directory)
    {
        var latest = Checkpoints.Latest(directory, CheckpointPrefix);
        if (group is not null) latest = DistributedRun.BroadcastString(group, group.IsMainProcess ? latest ?? "" : null) is { Length: > 0 } s ? s : null;
        if (latest is null) return null;
        using var state = Safetensors.Load(latest);
        int step = int.Parse(state.Metadata["step"], CultureInfo.InvariantCulture);
        LoadStateDict(state, step, latest);
        return step;
    }

    /// <summary>Largest |difference| of the trainable parameters between this rank and rank 0 (0 without a group).</summary>
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
        net.Dispose();
        Optimizer.Dispose();
        rng.Dispose();
    }
}
