namespace AptLab.Experiments;

/// <summary>
/// The demo study in one run folder, the composition of the experiment kinds (<see cref="StudyProducts"/>): (1) the
/// tiny Wan VAE and (2) the teacher with its text path (teacher kind), (3) consistency distillation (distill),
/// (4) APT image phase then video phase (apt), (5) the comparison of teacher (multi-step, CFG), CD student and APT
/// student (one and two steps) with Fréchet distance and sharpness (compare). Every stage checkpoints; a resumed run
/// skips the finished stages and continues an interrupted APT phase from its newest checkpoint.
/// <para>Under `aptlab launch --nproc N` the APT phases run data-parallel (effective batch micro_batch x accumulation
/// x N); the VAE, teacher and distillation stages are computed alike on every rank (seeded, deterministic) and then
/// overwritten with rank 0's weights so that all ranks continue from identical models; the comparison runs on rank 0
/// while the others wait.</para>
/// </summary>
public static class DemoExperiment
{
    public static void Run(StudyContext ctx)
    {
        ctx.Out.WriteLine($"AptLab demo: results in {ctx.Run.Root}");
        StudyProducts.Foundation(ctx);
        using var cd = StudyProducts.CdStudent(ctx);
        var (aptImage, aptVideo) = StudyProducts.AptStudents(ctx, cd);
        try
        {
            ctx.OnMain(() =>
            {
                ctx.Timed("compare", () => CompareStage.Run(ctx, CompareStage.DemoMethods(ctx, cd, aptImage, aptVideo)));
                StudyPlots.Write(ctx);
            });
        }
        finally
        {
            aptImage.Dispose();
            aptVideo?.Dispose();
        }
    }
}
