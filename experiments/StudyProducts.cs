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

    /// <summary>The consistency-distilled student (checkpoints/cd.safetensors; replicate k: cd_seed&lt;s&gt;), the same
    /// on every rank.</summary>
    public static WanFlowModel CdStudent(StudyContext ctx, Replicate? replicate = null)
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        return CdStage.Distill(ctx, ctx.Teacher, StudyCheckpoints.Has(ctx, replicate.Checkpoint(CdStage.Stage)) ? null : CdStage.OpenCache(ctx), replicate);
    }

    /// <summary>The EMA generators of the image phase and (with clips and video updates) the video phase
    /// (checkpoints/apt_image_ema.safetensors, apt_video_ema.safetensors; replicate k: apt_image_ema_seed&lt;s&gt;, ...),
    /// the generator starting from <paramref name="cdWeights"/>.</summary>
    public static (WanFlowModel Image, WanFlowModel? Video) AptStudents(StudyContext ctx, WanFlowModel cd, string cdWeights, Replicate? replicate = null)
    {
        var image = AptStage.Phase(ctx, cd, cdWeights, video: false, replicate);
        WanFlowModel? video = null;
        if (ctx.VideoLatents is not null && ctx.Config.Apt.Video.Updates > 0)
            video = AptStage.Phase(ctx, image, StudyCheckpoints.PathOf(ctx, AptStage.Product(video: false, replicate)), video: true, replicate);
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
