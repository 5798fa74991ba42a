namespace AptLab.Torch.optim;

/// <summary>
/// A learning-rate schedule: a pure function of the step (the number of optimizer steps already taken) and a
/// group's base lr. Warmup ramps linearly from 0 as in diffusers/transformers: lr(step) = base * step / warmup
/// for step &lt; warmup (so step 0 uses lr 0), then the schedule's own shape.
/// </summary>
public abstract record LRSchedule
{
    /// <summary>The learning rate at <paramref name="step"/> for a group whose base lr is <paramref name="baseLr"/>.</summary>
    public abstract double LearningRate(long step, double baseLr);

    /// <summary>Throws naming the field when a value is impossible.</summary>
    public abstract void Validate();

    protected static double Warmup(long step, long warmupSteps) => (double)step / Math.Max(1, warmupSteps);

    protected static void CheckWarmup(string schedule, long warmupSteps)
    {
        if (warmupSteps < 0) throw new ArgumentException($"{schedule}: WarmupSteps must be >= 0, got {warmupSteps}");
    }

    protected static void CheckStep(long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"LR schedule step must be >= 0, got {step}");
    }

    /// <summary>The base lr at every step.</summary>
    public sealed record Constant : LRSchedule
    {
        public override double LearningRate(long step, double baseLr) { CheckStep(step); return baseLr; }
        public override void Validate() { }
    }

    /// <summary>Linear warmup from 0 over <paramref name="WarmupSteps"/> steps, then the base lr.</summary>
    public sealed record LinearWarmup(long WarmupSteps) : LRSchedule
    {
        public override double LearningRate(long step, double baseLr)
        {
            CheckStep(step);
            return step < WarmupSteps ? baseLr * Warmup(step, WarmupSteps) : baseLr;
        }
        public override void Validate() => CheckWarmup(nameof(LinearWarmup), WarmupSteps);
    }

    /// <summary>
    /// Linear warmup, then cosine decay from the base lr to <paramref name="MinLr"/> at <paramref name="TotalSteps"/>,
    /// constant after: lr = MinLr + (base - MinLr) * (1 + cos(pi * t)) / 2 with t = (step - warmup) / (total - warmup).
    /// </summary>
    public sealed record Cosine(long WarmupSteps, long TotalSteps, double MinLr = 0) : LRSchedule
    {
        public override double LearningRate(long step, double baseLr)
        {
            CheckStep(step);
            if (step < WarmupSteps) return baseLr * Warmup(step, WarmupSteps);
            double t = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps));
            return MinLr + (baseLr - MinLr) * 0.5 * (1 + Math.Cos(Math.PI * t));
        }

        public override void Validate()
        {
            CheckWarmup(nameof(Cosine), WarmupSteps);
            if (TotalSteps <= WarmupSteps)
                throw new ArgumentException($"Cosine: TotalSteps ({TotalSteps}) must exceed WarmupSteps ({WarmupSteps})");
            if (!(MinLr >= 0)) throw new ArgumentException($"Cosine: MinLr must be >= 0, got {MinLr}");
        }
    }
}

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
