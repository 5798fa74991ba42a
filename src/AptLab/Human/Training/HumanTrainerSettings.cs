using AptLab.Training;

namespace AptLab.Human.Training;

/// <summary>One of the three training stages: its optimizer steps and condition ratios (docs/omnihuman.md#training).</summary>
public sealed record HumanStage(int Steps, ConditionRatios Ratios);

/// <summary>Hyper-parameters of <see cref="OmniHumanTrainer"/>: the shared <see cref="FineTuneSettings"/> (the paper's
/// optimiser, reported for the ICCV version: AdamW, lr 5e-5, weight decay 0.01, gradient clipping 1.0; tiny runs use a
/// larger lr), the stages and the trained set.</summary>
public sealed record HumanTrainerSettings : FineTuneSettings
{
    public HumanTrainerSettings() => Lr = 5e-5;

    public IReadOnlyList<HumanStage> Stages { get; init; } = [new(100, ConditionRatios.Stage(1)), new(100, ConditionRatios.Stage(2)), new(100, ConditionRatios.Stage(3))];
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
        ValidateShared();
        if (Train is not ("lora" or "full")) Fail(nameof(Train), $"must be lora or full, got '{Train}'");
        return this;
    }
}
