using AptLab.Apt;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// The products of the study's stages (the vocabulary is in <see cref="ExperimentKinds"/>). Each product is made once
/// per run folder: if its stage-final checkpoint exists (a resumed run) it is loaded instead. The demo chains the
/// products in one folder (<see cref="DemoExperiment"/>); the study's other kinds (<see cref="StudyExperiments"/>) each
/// make one of them from the checkpoints their config names.
/// </summary>
public static class StudyProducts
{
    /// <summary>VAE + text encoder + teacher (checkpoints/foundation.safetensors), and the encoded training set.</summary>
    public static void Foundation(StudyContext ctx)
    {
        if (StudyCheckpoints.Has(ctx, StudyCheckpoints.Foundation))
        {
            StudyCheckpoints.LoadFoundation(ctx);
            VaeStage.EncodeTrainingSet(ctx, refitStats: false);
            ctx.Out.WriteLine("[vae, teacher] loaded from checkpoints/foundation.safetensors");
        }
        else
        {
            if (StudyCheckpoints.Has(ctx, StudyCheckpoints.Vae))
            {
                StudyCheckpoints.LoadVae(ctx);
                VaeStage.EncodeTrainingSet(ctx, refitStats: false);
                ctx.Out.WriteLine("[vae] loaded from checkpoints/vae.safetensors");
            }
            else
            {
                ctx.Timed("vae", () => VaeStage.Run(ctx));
                StudyCheckpoints.SaveVae(ctx);
            }
            ctx.Timed("teacher", () => TeacherStage.Run(ctx));
            StudyCheckpoints.SaveFoundation(ctx);
        }
        SyncFoundation(ctx);
    }

    /// <summary>The consistency-distilled student (checkpoints/cd.safetensors).</summary>
    public static WanFlowModel CdStudent(StudyContext ctx)
    {
        WanFlowModel cd;
        if (StudyCheckpoints.Has(ctx, "cd")) cd = StudyCheckpoints.LoadModel(ctx, "cd");
        else
        {
            cd = ctx.Timed("distill", () => CdStage.Distill(ctx, ctx.Teacher, CdStage.OpenCache(ctx)));
            StudyCheckpoints.SaveModel(ctx, "cd", cd);
        }
        ctx.SyncFromMain(cd.Module);
        return cd;
    }

    /// <summary>The EMA generators of the image phase and (with clips and video updates) the video phase
    /// (checkpoints/apt_image_ema.safetensors, apt_video_ema.safetensors).</summary>
    public static (WanFlowModel Image, WanFlowModel? Video) AptStudents(StudyContext ctx, WanFlowModel cd)
    {
        WanFlowModel image;
        if (StudyCheckpoints.Has(ctx, "apt_image_ema")) image = StudyCheckpoints.LoadModel(ctx, "apt_image_ema");
        else
        {
            image = ctx.Timed("apt_image", () => AptStage.RunPhase(ctx, cd, video: false));
            StudyCheckpoints.SaveModel(ctx, "apt_image_ema", image);
        }
        WanFlowModel? video = null;
        if (ctx.VideoLatents is not null && ctx.Config.Apt.Video.Updates > 0)
        {
            if (StudyCheckpoints.Has(ctx, "apt_video_ema")) video = StudyCheckpoints.LoadModel(ctx, "apt_video_ema");
            else
            {
                video = ctx.Timed("apt_video", () => AptStage.RunPhase(ctx, image, video: true));
                StudyCheckpoints.SaveModel(ctx, "apt_video_ema", video);
            }
        }
        return (image, video);
    }

    /// <summary>Loads a foundation checkpoint of another run (its architecture was adopted by <see cref="ExperimentKinds.Prepare"/>)
    /// and, for training kinds, encodes the training set with its VAE.</summary>
    public static void LoadFoundation(StudyContext ctx, string path, bool encode)
    {
        StudyCheckpoints.LoadFoundation(ctx, path);
        ctx.Out.WriteLine($"[foundation] VAE, text encoder and teacher from {path}");
        if (encode) VaeStage.EncodeTrainingSet(ctx, refitStats: false);
        SyncFoundation(ctx);
    }

    private static void SyncFoundation(StudyContext ctx)
    {
        ctx.SyncFromMain(ctx.Vae, ctx.TextEncoder, ctx.Teacher.Module);
        ctx.SyncFromMain(ctx.ImageLatents, ctx.VideoLatents);
    }
}
