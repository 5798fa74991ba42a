using AptLab.Apt;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>The study's experiment kinds that run one stage each (teacher, distill, apt, compare, sample), starting
/// from the products of earlier runs that their config names (<see cref="ExperimentKinds"/>).</summary>
public static class StudyExperiments
{
    /// <summary>teacher: the foundation, and the run's loss plots.</summary>
    public static void Teacher(StudyContext ctx)
    {
        StudyProducts.Foundation(ctx);
        ctx.OnMain(() => StudyPlots.Write(ctx));
    }

    /// <summary>distill: the CD student of the foundation named by distill.from.</summary>
    public static void Distill(StudyContext ctx)
    {
        StudyProducts.LoadFoundation(ctx, ctx.Config.Distill.From, encode: true);
        using var cd = StudyProducts.CdStudent(ctx);
        ctx.OnMain(() => StudyPlots.Write(ctx));
    }

    /// <summary>apt: both phases, the discriminator from apt.teacher's teacher, the generator from apt.student.</summary>
    public static void Apt(StudyContext ctx)
    {
        StudyProducts.LoadFoundation(ctx, ctx.Config.Apt.Teacher, encode: true);
        using var cd = StudyCheckpoints.LoadModel(ctx, ctx.Teacher, "student", ctx.Config.Apt.Student);
        ctx.Out.WriteLine($"[apt] generator from {ctx.Config.Apt.Student}");
        var (image, video) = StudyProducts.AptStudents(ctx, cd, ctx.Config.Apt.Student);
        image.Dispose();
        video?.Dispose();
        ctx.OnMain(() => StudyPlots.Write(ctx));
    }

    /// <summary>compare (with scores) or sample (sheets only): compare.methods from compare.foundation's teacher and
    /// the named student checkpoints.</summary>
    public static void Compare(StudyContext ctx, bool scores)
    {
        StudyProducts.LoadFoundation(ctx, ctx.Config.Compare.Foundation, encode: false);
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
}
