namespace AptLab.Human.Training;

/// <summary>One of the three training stages: its optimizer steps and condition ratios (docs/omnihuman.md#training).</summary>
public sealed record HumanStage(int Steps, ConditionRatios Ratios);

/// <summary>Hyper-parameters of <see cref="OmniHumanTrainer"/>. The paper's optimiser (reported for the ICCV version):
/// AdamW, lr 5e-5, weight decay 0.01, gradient clipping 1.0; tiny runs use a larger lr.</summary>
public sealed record HumanTrainerSettings
{
    public IReadOnlyList<HumanStage> Stages { get; init; } = [new(100, ConditionRatios.Stage(1)), new(100, ConditionRatios.Stage(2)), new(100, ConditionRatios.Stage(3))];
    public double Lr { get; init; } = 5e-5;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.01;
    public int WarmupSteps { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public int MicroBatch { get; init; } = 1;
    public int Accumulation { get; init; } = 1;
    public bool GradientCheckpointing { get; init; }
    /// <summary>Training noise levels σ = shift(u, s), u ~ U(0, 1) (docs/flow-matching.md#shift).</summary>
    public double Shift { get; init; } = 5.0;
    /// <summary>"lora": LoRA on Wan's linear layers + the added parts + the patch embedding; "full": every parameter.</summary>
    public string Train { get; init; } = "lora";

    /// <summary>Steps of all stages.</summary>
    public int TotalSteps => Stages.Sum(s => s.Steps);

    /// <summary>The stage (1-based) that optimizer step <paramref name="step"/> (0-based: the step about to be taken) belongs to.</summary>
    public int StageAt(int step)
    {
        int end = 0;
        for (int i = 0; i < Stages.Count; i++)
        {
            end += Stages[i].Steps;
            if (step < end) return i + 1;
        }
        return Stages.Count;
    }

    public HumanTrainerSettings Validate()
    {
        void Fail(string key, string why) => throw new ArgumentException($"HumanTrainerSettings.{key}: {why}");
        if (Stages.Count is < 1 or > 3) Fail(nameof(Stages), $"OmniHuman trains in 1 to 3 stages, got {Stages.Count}");
        for (int i = 0; i < Stages.Count; i++)
        {
            if (Stages[i].Steps < 0) Fail($"stages[{i}].steps", $"must be >= 0, got {Stages[i].Steps}");
            Stages[i].Ratios.Validate($"stages[{i}].ratios", i + 1);
        }
        if (!(Lr > 0)) Fail(nameof(Lr), $"must be positive, got {Lr}");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) Fail("Betas", $"must lie in [0, 1), got ({Beta1}, {Beta2})");
        if (!(Eps > 0)) Fail(nameof(Eps), $"must be positive, got {Eps}");
        if (!(WeightDecay >= 0)) Fail(nameof(WeightDecay), $"must be >= 0, got {WeightDecay}");
        if (WarmupSteps < 0) Fail(nameof(WarmupSteps), $"must be >= 0, got {WarmupSteps}");
        if (!(MaxGradNorm >= 0)) Fail(nameof(MaxGradNorm), $"must be >= 0, got {MaxGradNorm}");
        if (MicroBatch < 1) Fail(nameof(MicroBatch), $"must be >= 1, got {MicroBatch}");
        if (Accumulation < 1) Fail(nameof(Accumulation), $"must be >= 1, got {Accumulation}");
        if (!(Shift > 0)) Fail(nameof(Shift), $"must be positive, got {Shift}");
        if (Train is not ("lora" or "full")) Fail(nameof(Train), $"must be lora or full, got '{Train}'");
        return this;
    }
}
