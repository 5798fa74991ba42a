using AptLab.Apt;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// The consistency-distillation stage shared by the apt kinds on released checkpoints (Wan 2.1, OmniAvatar):
/// apt.md 4.3 with the <c>distill</c> section's settings (steps, batch, lr, weight_decay, n, shift, guidance) on any
/// <see cref="FlowModel"/> and any batch source; AdamW on the student, the teacher frozen; one batch per step, the
/// loss logged as cd/loss. The product is checkpoints/cd.safetensors; a resumed run that has it loads it instead.
/// (The demo's <see cref="DistillStage"/> keeps its own loop for its teacher-target cache.)
/// </summary>
public static class CdStage
{
    public const string Stage = "cd";

    /// <summary>A batch of step <c>step</c> (1-based) drawn with the stage's generator.</summary>
    public delegate RealBatch Batches(int step, int size, Generator rng);

    /// <summary>This run's CD student: loaded from checkpoints/cd.safetensors when present, else made by
    /// <paramref name="distill"/> (which calls <see cref="Train"/>), timed and saved there.</summary>
    public static TModel Student<TModel>(RunContext ctx, TModel teacher, Func<TModel> distill) where TModel : FlowModel
    {
        if (StudyCheckpoints.Has(ctx, Stage))
        {
            ctx.Out.WriteLine($"[distill] CD student from {StudyCheckpoints.PathOf(ctx, Stage)}");
            return StudyCheckpoints.LoadModel(ctx, teacher, Stage);
        }
        var student = ctx.Timed("distill", distill);
        StudyCheckpoints.SaveModel(ctx, Stage, student);
        return student;
    }

    /// <summary>distill.steps AdamW updates of <paramref name="student"/> on the CD loss against
    /// <paramref name="teacher"/> (frozen here); returns the last loss. The student is left in eval mode. Every rank of a
    /// data-parallel run computes the same student (same seeds and batches); rank 0 writes it.</summary>
    /// <param name="negative">the teacher's CFG negative for a batch's conditioning</param>
    public static double Train(RunContext ctx, FlowModel student, FlowModel teacher, Batches batches, Func<Conditioning, Conditioning> negative)
    {
        var cfg = ctx.Config.Distill;
        teacher.Module.requires_grad_(false);
        student.Module.train();
        using var opt = new AdamW(student.Module.parameters(), lr: cfg.Lr, weight_decay: cfg.WeightDecay);
        var progress = new ProgressReporter("distill", cfg.Steps, ctx.Out, every: 10);
        using var rng = new Generator(ctx.Config.Seed + 33);
        double last = double.NaN;
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            var (x0, c) = batches(step, cfg.Batch, rng);                                  // x0: [B, C, F, H, W]
            var loss = ConsistencyDistillation.Loss(student, teacher, x0, c, negative(c), cfg.Settings, rng).loss;
            loss.backward();
            opt.step();
            opt.zero_grad();
            last = loss.item<double>();
            ctx.Log.Scalar(step, "cd/loss", last);
            progress.Report(step, new Dictionary<string, double> { ["loss"] = last }, cfg.Batch);
        }
        student.Module.eval();
        return last;
    }
}
