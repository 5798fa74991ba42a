using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// The demo study in one run folder, the composition of the experiment kinds (<see cref="StudyProducts"/>): (1) the
/// tiny Wan VAE and (2) the teacher with its text path (teacher kind), then per training replicate
/// (<see cref="Replicate"/>, replicates.count of them) (3) consistency distillation (distill) and (4) APT image phase
/// then video phase (apt), and (5) the comparison of teacher (multi-step, CFG), CD student and APT student (one and two
/// steps) with Fréchet distance and sharpness, mean and intervals over the replicates (compare; docs/demo-study.md).
/// Every stage checkpoints; a resumed run skips the finished stages and continues an interrupted APT phase from its
/// newest checkpoint. The run ends with where-it-stands.md, the README section of its figures.
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
        var students = new List<CompareStage.ReplicateStudents>();
        try
        {
            WanFlowModel? sharedCd = null;
            Replicate? cdOf = null;                                                     // whose CD student the APT phases start from
            foreach (var r in Replicate.All(ctx.Config))
            {
                bool own = ctx.Config.Replicates.Distill || sharedCd is null;
                var cd = own ? StudyProducts.CdStudent(ctx, r) : (WanFlowModel)sharedCd!.Copy();
                if (own) cdOf = r;
                sharedCd ??= cd;
                var (image, video) = StudyProducts.AptStudents(ctx, cd, StudyCheckpoints.PathOf(ctx, cdOf!.Checkpoint(CdStage.Stage)), r);
                students.Add(new CompareStage.ReplicateStudents(r, cd, image, video));
            }
            ctx.OnMain(() =>
            {
                var kinds = ctx.Timed("compare", () => CompareStage.Run(ctx, CompareStage.DemoMethods(ctx, students)));
                StudyPlots.Write(ctx);
                Training.RunDirectory.WriteAtomic(ctx.Run.File("where-it-stands.md"), ComparisonWriter.WhereItStands(ctx, kinds));
            });
        }
        finally
        {
            foreach (var s in students)
            {
                s.Cd.Dispose();
                s.AptImage.Dispose();
                s.AptVideo?.Dispose();
            }
        }
    }
}
