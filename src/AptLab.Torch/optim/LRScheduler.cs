namespace AptLab.Torch.optim;

/// <summary>The state of an <see cref="LRScheduler"/> for a checkpoint: steps taken and each group's base lr.</summary>
public sealed record LRSchedulerState(long LastStep, double[] BaseLrs);

/// <summary>
/// Applies an <see cref="LRSchedule"/> to an optimizer's groups, as torch.optim.lr_scheduler.LambdaLR: on
/// construction each group's lr becomes schedule(0, base lr); every <see cref="step"/> (called after
/// optimizer.step()) advances the count and sets schedule(count, base lr). The base lrs are the groups' lrs
/// at construction.
/// </summary>
public sealed class LRScheduler
{
    private readonly Optimizer optimizer;
    private double[] baseLrs;

    public LRSchedule Schedule { get; }

    /// <summary>Number of scheduler steps taken; the groups' lrs are those of this step.</summary>
    public long last_step { get; private set; }

    public LRScheduler(Optimizer optimizer, LRSchedule schedule)
    {
        schedule.Validate();
        this.optimizer = optimizer;
        Schedule = schedule;
        baseLrs = optimizer.param_groups.Select(g => g.lr).ToArray();
        Apply();
    }

    public IReadOnlyList<double> base_lrs => baseLrs;

    /// <summary>The lr of each group as last set.</summary>
    public double[] get_last_lr() => optimizer.param_groups.Select(g => g.lr).ToArray();

    public void step()
    {
        last_step++;
        Apply();
    }

    private void Apply()
    {
        var groups = optimizer.param_groups;
        for (int i = 0; i < groups.Count; i++) groups[i].lr = Schedule.LearningRate(last_step, baseLrs[i]);
    }

    public LRSchedulerState state_dict() => new(last_step, (double[])baseLrs.Clone());

    /// <summary>Resumes: restores the step count and base lrs, and sets the groups' lrs for that step.</summary>
    public void load_state_dict(LRSchedulerState state)
    {
        if (state.BaseLrs.Length != optimizer.param_groups.Count)
            throw new InvalidDataException($"LRScheduler.load_state_dict: BaseLrs has {state.BaseLrs.Length} entries, but the optimizer has {optimizer.param_groups.Count} parameter groups");
        if (state.LastStep < 0) throw new InvalidDataException($"LRScheduler.load_state_dict: LastStep must be >= 0, got {state.LastStep}");
        last_step = state.LastStep;
        baseLrs = (double[])state.BaseLrs.Clone();
        Apply();
    }
}
