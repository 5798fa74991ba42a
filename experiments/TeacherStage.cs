using AptLab.Diffusion;
using AptLab.Apt;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// Stage 2 of the demo: the teacher, a tiny Wan DiT, and the text encoder trained together with the flow-matching
/// objective: x_sigma = (1 - sigma) x0 + sigma eps, target v = eps - x0, sigma = shift(u, s), u ~ U(0, 1); captions are
/// dropped to the empty prompt with probability caption_dropout so that classifier-free guidance works.
/// Images and clips alternate step by step. The run's precision policy applies to both networks
/// (<see cref="MixedPrecisionParameters"/>; the loss is a float32 island); the stage is not sharded: under `aptlab
/// launch` every rank computes it alike and the study then syncs the result from rank 0.
/// </summary>
public static class TeacherStage
{
    public static void Run(StudyContext ctx)
    {
        var cfg = ctx.Config.Teacher;
        using var teacher = new MixedPrecisionParameters(ctx.Teacher.Module, ctx.Precision);
        using var text = new MixedPrecisionParameters(ctx.TextEncoder, ctx.Precision);
        using var opt = new AdamW(teacher.Masters.Concat(text.Masters).ToList(), lr: cfg.Lr, weight_decay: 0.01);
        var schedule = new LRScheduler(opt, new LRSchedule.Cosine(Math.Min(100, cfg.Steps / 10), Math.Max(1, cfg.Steps), MinLr: cfg.Lr * 0.1));
        var progress = new ProgressReporter("teacher", cfg.Steps, ctx.Out, every: 100);
        using var rng = new Generator(ctx.Config.Seed + Seeds.Teacher);
        var random = new Random((int)(ctx.Config.Seed + Seeds.Teacher));
        var guard = ctx.NonFinite("teacher");
        ctx.Teacher.Module.train();
        ctx.TextEncoder.train();
        for (int step = 1; step <= cfg.Steps; step++)
        {
            using var scope = torch.NewScope();
            var (x0, captions) = Batches.Sample(ctx, video: ctx.VideoLatents is not null && step % 2 == 0, cfg.Batch, rng);
            var dropped = captions.Select(c => random.NextDouble() < cfg.CaptionDropout ? cfg.DropoutPrompt : c).ToArray();
            var cond = new Conditioning(ctx.Encode(dropped, grad: true));
            long b = x0.size(0);
            var sigma = FlowMatch.SampleSigmas(b, cfg.Shift, rng, ctx.Device);
            var eps = torch.randn(x0.shape, generator: rng, device: ctx.Device);
            var xt = FlowMatch.AddNoise(x0, eps, sigma);
            var v = ctx.Teacher.Velocity(xt, sigma, cond);
            var loss = F.mse_loss(v.dtype == ScalarType.BFloat16 ? v.to(ScalarType.Float32) : v, FlowMatch.Velocity(x0, eps));
            loss.backward();
            teacher.AccumulateGradients();                                             // bf16 gradients into the float32 masters'
            text.AccumulateGradients();
            double l = loss.item<double>();
            if (guard.Allows(step, ("loss", l), ("grad_norm", NonFiniteGuard.GradNorm(teacher.Masters.Concat(text.Masters)))))
            {
                opt.step();
                teacher.SyncComputeCopies();
                text.SyncComputeCopies();
                ctx.Log.Scalars(step, new Dictionary<string, double> { ["teacher/loss"] = l, ["teacher/lr"] = opt.param_groups[0].lr });
            }
            else ctx.Log.Scalar(step, "teacher/skipped_steps", guard.Skipped);
            opt.zero_grad();
            schedule.step();
            progress.Report(step, new Dictionary<string, double> { ["loss"] = l }, (int)b);
        }
        teacher.restore_masters();                                                     // the foundation in the master dtype
        text.restore_masters();
        ctx.Teacher.Module.eval();
        ctx.TextEncoder.eval();
        ctx.TextEncoder.requires_grad_(false);
    }
}
