using AptLab.Logging;
using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// What every experiment kind shares: the config, the run folder and its logger, the device and (under `aptlab
/// launch`) the process group. Only rank 0 (<see cref="IsMain"/>) writes: the other ranks' <see cref="Out"/> and
/// <see cref="Log"/> discard everything.
/// </summary>
public class RunContext : IDisposable
{
    public ExperimentConfig Config { get; }
    public RunDirectory Run { get; }
    public RunLogger Log { get; }
    public TextWriter Out { get; }
    public Device Device { get; }
    /// <summary>The data-parallel ranks of this run; null for one process.</summary>
    public ProcessGroup? Group { get; }
    /// <summary>Rank 0 (or the only process): the one that writes logs, checkpoints and samples.</summary>
    public bool IsMain => DistributedRun.IsMainProcess(Group);
    public int WorldSize => Group?.world_size ?? 1;
    /// <summary>The run's precision policy (config key precision).</summary>
    public Precision Precision => Config.TrainingPrecision;
    /// <summary>The run's parallel mode (config key parallel).</summary>
    public ParallelMode Parallel => Config.ParallelMode;
    /// <summary>Where whole networks (the teacher, the templates the trained copies are made from) live: the run's
    /// device under ddp; under fsdp the host, so that the accelerator holds only shards and one gathered block.</summary>
    public Device WholeModelDevice => Parallel == ParallelMode.Fsdp ? Device.CPU : Device;

    private ProcessGroup? groupOfOne;

    /// <summary>The group trainers pass to <see cref="ParallelModules.Wrap"/>: under ddp <see cref="Group"/> (null for one
    /// process); under fsdp the launch's group, or for one process a group of one made on first use.</summary>
    public ProcessGroup? TrainingGroup => Parallel == ParallelMode.Ddp ? Group : Group ?? (groupOfOne ??= ParallelModules.GroupOfOne());

    /// <summary>This rank's share of a global batch (<see cref="BatchShard"/>: the whole batch for one process).</summary>
    public Apt.BatchShard Shard => Group is null ? Apt.BatchShard.Whole : new Apt.BatchShard(Group.rank, Group.world_size);

    /// <param name="resume">a resumed run: what its logs keep of the earlier attempt's (<see cref="RunResume"/>)</param>
    public RunContext(ExperimentConfig config, RunDirectory run, TextWriter output, ResumePoint? resume = null, ProcessGroup? group = null)
    {
        (Config, Run, Group) = (config, run, group);
        Out = IsMain ? output : TextWriter.Null;
        Device = Device.Parse(config.Device);
        Log = IsMain ? new RunLogger(run.Events, run.MetricsCsv, resume) : RunLogger.Discard();
    }

    /// <summary>The divergence check of a training stage (config keys nonfinite, max_nonfinite_skips).</summary>
    public NonFiniteGuard NonFinite(string stage) => new(stage, Config.Nonfinite, Config.MaxNonfiniteSkips, Group, Out);

    /// <summary>Runs <paramref name="write"/> on rank 0 only; every rank waits until it is done.</summary>
    public void OnMain(Action write) => DistributedRun.OnMainProcess(Group, write);

    /// <summary>Rank 0's answer on every rank (decisions such as "does this checkpoint exist" must agree).</summary>
    public bool AgreeWithMain(bool value) => DistributedRun.BroadcastFlag(Group, value);

    /// <summary>Rank 0's string (e.g. the newest checkpoint's path, or null) on every rank.</summary>
    public string? AgreeWithMain(string? value) =>
        Group is null ? value : DistributedRun.BroadcastString(Group, IsMain ? value ?? "" : null) is { Length: > 0 } s ? s : null;

    /// <summary>Rank 0's weights (parameters and buffers) of <paramref name="modules"/> on every rank.</summary>
    public void SyncFromMain(params Module[] modules) => DistributedRun.BroadcastModules(Group, modules);

    /// <summary>Rank 0's values of <paramref name="tensors"/> (same shapes everywhere) on every rank.</summary>
    public void SyncFromMain(params Tensor?[] tensors) => DistributedRun.Broadcast(Group, tensors.OfType<Tensor>());

    /// <summary>The mean of <paramref name="value"/> over the ranks (the value itself for one process): with equal
    /// shards of a global batch, the mean of the ranks' losses is the global batch's.</summary>
    public double MeanOverRanks(double value)
    {
        if (Group is null) return value;
        using var scope = torch.NewScope();
        var t = torch.tensor(new[] { value }, 1);
        Group.all_reduce(t, AptLab.Torch.Distributed.ReduceOp.Avg);
        return t.item<double>();
    }

    /// <summary>Runs a stage, prints and logs its wall time and the process's CPU time (user + system, all threads)
    /// during it: on a shared machine the wall time is inflated, the CPU time is not (time/&lt;stage&gt;_seconds,
    /// time/&lt;stage&gt;_cpu_seconds).</summary>
    public T Timed<T>(string stage, Func<T> run)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        var r = run();
        double cpu = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        Out.WriteLine($"[{stage}] done in {sw.Elapsed.TotalSeconds:F1} s (CPU {cpu:F1} s)");
        var tag = stage.Replace(' ', '_');
        Log.Scalars(0, new Dictionary<string, double> { [$"time/{tag}_seconds"] = sw.Elapsed.TotalSeconds, [$"time/{tag}_cpu_seconds"] = cpu });
        return r;
    }

    public void Timed(string stage, Action run) => Timed<int>(stage, () => { run(); return 0; });

    public virtual void Dispose()
    {
        Log.Dispose();
        groupOfOne?.Dispose();
        GC.SuppressFinalize(this);
    }
}
