using AptLab.Apt;
using AptLab.Config;

namespace AptLab.Experiments;

/// <summary>
/// The demo study in one run folder: (1) the tiny Wan VAE, (2) the teacher with its text path, (3) consistency
/// distillation, (4) APT image phase then video phase, (5) the comparison of teacher (multi-step, CFG), CD student
/// and APT student (one step) with Fréchet distance and sharpness. Every stage checkpoints; a resumed run skips the
/// finished stages and continues an interrupted APT phase from its newest checkpoint.
/// <para>Under `aptlab launch --nproc N` the APT phases run data-parallel (effective batch micro_batch x accumulation
/// x N); the VAE, teacher and distillation stages are computed alike on every rank (seeded, deterministic) and then
/// overwritten with rank 0's weights so that all ranks continue from identical models; the comparison runs on rank 0
/// while the others wait.</para>
/// </summary>
public static class DemoExperiment
{
    public static void Run(StudyContext ctx)
    {
        var cfg = ctx.Config;
        ctx.Out.WriteLine($"AptLab demo: results in {ctx.Run.Root}");
        if (StudyCheckpoints.Has(ctx, "foundation"))
        {
            StudyCheckpoints.LoadFoundation(ctx);
            VaeStage.EncodeTrainingSet(ctx, refitStats: false);
            ctx.Out.WriteLine("[vae, teacher] loaded from checkpoints/foundation.safetensors");
        }
        else
        {
            Timed(ctx, "vae", () => VaeStage.Run(ctx));
            Timed(ctx, "teacher", () => TeacherStage.Run(ctx));
            StudyCheckpoints.SaveFoundation(ctx);
        }
        ctx.SyncFromMain(ctx.Vae, ctx.TextEncoder, ctx.Teacher.Module);
        ctx.SyncFromMain(ctx.ImageLatents, ctx.VideoLatents);

        WanFlowModel cd;
        if (StudyCheckpoints.Has(ctx, "cd")) cd = StudyCheckpoints.LoadModel(ctx, "cd");
        else
        {
            cd = Timed(ctx, "distill", () => DistillStage.Run(ctx));
            StudyCheckpoints.SaveModel(ctx, "cd", cd);
        }
        ctx.SyncFromMain(cd.Module);

        WanFlowModel aptImage;
        if (StudyCheckpoints.Has(ctx, "apt_image_ema")) aptImage = StudyCheckpoints.LoadModel(ctx, "apt_image_ema");
        else
        {
            aptImage = Timed(ctx, "apt_image", () => AptStage.RunPhase(ctx, "image", cd, video: false, cfg.Apt.Image));
            StudyCheckpoints.SaveModel(ctx, "apt_image_ema", aptImage);
        }

        WanFlowModel? aptVideo = null;
        if (ctx.VideoLatents is not null && cfg.Apt.Video.Updates > 0)
        {
            if (StudyCheckpoints.Has(ctx, "apt_video_ema")) aptVideo = StudyCheckpoints.LoadModel(ctx, "apt_video_ema");
            else
            {
                aptVideo = Timed(ctx, "apt_video", () => AptStage.RunPhase(ctx, "video", aptImage, video: true, cfg.Apt.Video));
                StudyCheckpoints.SaveModel(ctx, "apt_video_ema", aptVideo);
            }
        }

        ctx.OnMain(() =>
        {
            Timed(ctx, "compare", () => CompareStage.Run(ctx, cd, aptImage, aptVideo));
            StudyPlots.Write(ctx);
        });
        cd.Dispose();
        aptImage.Dispose();
        aptVideo?.Dispose();
    }

    private static T Timed<T>(StudyContext ctx, string stage, Func<T> run)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = run();
        ctx.Out.WriteLine($"[{stage}] done in {sw.Elapsed.TotalSeconds:F1} s");
        ctx.Log.Scalar(0, $"time/{stage}_seconds", sw.Elapsed.TotalSeconds);
        return r;
    }

    private static void Timed(StudyContext ctx, string stage, Action run) => Timed<int>(ctx, stage, () => { run(); return 0; });
}
