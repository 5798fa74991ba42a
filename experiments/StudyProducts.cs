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

    /// <summary>The consistency-distilled student (checkpoints/cd.safetensors; replicate k: cd_seed&lt;s&gt;).</summary>
    public static WanFlowModel CdStudent(StudyContext ctx, Replicate? replicate = null)
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        var name = replicate.Checkpoint("cd");
        WanFlowModel cd;
        if (StudyCheckpoints.Has(ctx, name)) cd = StudyCheckpoints.LoadModel(ctx, name);
        else
        {
            cd = ctx.Timed(replicate.Label("distill"), () => CdStage.Distill(ctx, ctx.Teacher, CdStage.OpenCache(ctx), replicate));
            StudyCheckpoints.SaveModel(ctx, name, cd);
        }
        ctx.SyncFromMain(cd.Module);
        return cd;
    }

    /// <summary>The EMA generators of the image phase and (with clips and video updates) the video phase
    /// (checkpoints/apt_image_ema.safetensors, apt_video_ema.safetensors; replicate k: apt_image_ema_seed&lt;s&gt;, ...).</summary>
    public static (WanFlowModel Image, WanFlowModel? Video) AptStudents(StudyContext ctx, WanFlowModel cd, Replicate? replicate = null)
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        WanFlowModel image;
        var imageName = replicate.Checkpoint("apt_image_ema");
        if (StudyCheckpoints.Has(ctx, imageName)) image = StudyCheckpoints.LoadModel(ctx, imageName);
        else
        {
            image = ctx.Timed(replicate.Label("apt_image"), () => AptStage.RunPhase(ctx, cd, video: false, replicate));
            StudyCheckpoints.SaveModel(ctx, imageName, image);
        }
        WanFlowModel? video = null;
        if (ctx.VideoLatents is not null && ctx.Config.Apt.Video.Updates > 0)
        {
            var videoName = replicate.Checkpoint("apt_video_ema");
            if (StudyCheckpoints.Has(ctx, videoName)) video = StudyCheckpoints.LoadModel(ctx, videoName);
            else
            {
                video = ctx.Timed(replicate.Label("apt_video"), () => AptStage.RunPhase(ctx, image, video: true, replicate));
                StudyCheckpoints.SaveModel(ctx, videoName, video);
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
