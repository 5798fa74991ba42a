using AptLab.Apt;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// The products of the study's stages and the experiment kinds built from them. Each product is made once per run
/// folder: if its stage-final checkpoint exists (a resumed run) it is loaded instead. The demo chains the products
/// in one folder (<see cref="DemoExperiment"/>); the kinds teacher, distill, apt, compare and sample each make one of
/// them from the checkpoints their config names (<see cref="ExperimentKinds"/>).
/// </summary>
public static class StudyKinds
{
    // ---- products ----

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

    // ---- kinds ----

    /// <summary>teacher: the foundation, and the run's loss plots.</summary>
    public static void Teacher(StudyContext ctx)
    {
        Foundation(ctx);
        ctx.OnMain(() => StudyPlots.Write(ctx));
    }

    /// <summary>distill: the CD student of the foundation named by distill.from.</summary>
    public static void Distill(StudyContext ctx)
    {
        LoadFoundation(ctx, ctx.Config.Distill.From, encode: true);
        using var cd = CdStudent(ctx);
        ctx.OnMain(() => StudyPlots.Write(ctx));
    }

    /// <summary>apt: both phases, the discriminator from apt.teacher's teacher, the generator from apt.student.</summary>
    public static void Apt(StudyContext ctx)
    {
        LoadFoundation(ctx, ctx.Config.Apt.Teacher, encode: true);
        using var cd = StudyCheckpoints.LoadModel(ctx, ctx.Teacher, "student", ctx.Config.Apt.Student);
        ctx.Out.WriteLine($"[apt] generator from {ctx.Config.Apt.Student}");
        var (image, video) = AptStudents(ctx, cd);
        image.Dispose();
        video?.Dispose();
        ctx.OnMain(() => StudyPlots.Write(ctx));
    }

    /// <summary>compare (with scores) or sample (sheets only): compare.methods from compare.foundation's teacher and
    /// the named student checkpoints.</summary>
    public static void Compare(StudyContext ctx, bool scores)
    {
        LoadFoundation(ctx, ctx.Config.Compare.Foundation, encode: false);
        var models = new List<WanFlowModel>();
        try
        {
            var methods = new List<CompareStage.Method>();
            foreach (var m in ctx.Config.Compare.Methods)
            {
                if (m.IsTeacher) { methods.Add(CompareStage.Teacher(ctx, ctx.Teacher, m.Steps, m.Guidance, m.Shift, m.Name.Length > 0 ? m.Name : null)); continue; }
                var model = StudyCheckpoints.LoadModel(ctx, ctx.Teacher, "student", m.Model);
                models.Add(model);
                methods.Add(CompareStage.Student(ctx, model, m.DisplayName, m.Steps, m.Shift));
            }
            ctx.OnMain(() =>
            {
                if (scores) ctx.Timed("compare", () => CompareStage.Run(ctx, methods));
                else ctx.Timed("sample", () => CompareStage.Sample(ctx, methods));
                StudyPlots.Write(ctx);
            });
        }
        finally { foreach (var m in models) m.Dispose(); }
    }

    /// <summary>Loads a foundation checkpoint of another run (its spec was adopted by <see cref="ExperimentKinds.Prepare"/>)
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
