using AptLab.Apt;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// Stage 3: consistency distillation of the teacher into a one-step student initialised from it (apt.md 4.3):
/// N shifted discretisation steps, the teacher's guided Euler step with the negative prompt, the target from the
/// current student under stop-gradient, MSE, AdamW. Images and clips alternate.
/// </summary>
public static class DistillStage
{
    public static WanFlowModel Run(StudyContext ctx)
    {
        var cfg = ctx.Config.Distill;
        var student = (WanFlowModel)ctx.Teacher.Copy();
        student.Module.train();
        ctx.Teacher.Module.requires_grad_(false);
        using var opt = new AdamW(student.Module.parameters(), lr: cfg.Lr, weight_decay: cfg.WeightDecay);
        var progress = new ProgressReporter("distill", cfg.Steps, ctx.Out, every: 50);
        using var rng = new Generator(ctx.Config.Seed + 33);
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            var (x0, captions) = Batches.Sample(ctx, video: ctx.VideoLatents is not null && step % 2 == 0, cfg.Batch, rng);
            var cond = ctx.Condition(captions);
            var neg = ctx.Negative(captions.Length);
            var (loss, _) = ConsistencyDistillation.Loss(student, ctx.Teacher, x0, cond, neg, cfg.Settings, rng);
            loss.backward();
            opt.step();
            opt.zero_grad();
            double l = loss.item<double>();
            ctx.Log.Scalar(step, "cd/loss", l);
            progress.Report(step, new Dictionary<string, double> { ["loss"] = l }, captions.Length);
        }
        student.Module.eval();
        return student;
    }
}
