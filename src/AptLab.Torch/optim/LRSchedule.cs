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
