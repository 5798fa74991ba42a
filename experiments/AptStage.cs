using AptLab.Apt;
using AptLab.Torch.IO;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// Stage 4: adversarial post-training (docs/apt.md#training-loop). The image phase starts the generator from the CD student and the
/// discriminator from the ORIGINAL teacher; the video phase starts the generator from the image phase's EMA and a
/// freshly re-initialised discriminator. Each phase checkpoints G, D, EMA and both optimizers atomically and resumes
/// from its newest checkpoint. Under `aptlab launch` the phase is data-parallel: each rank trains on its share of
/// the global micro-batch (micro_batch x world size samples, drawn alike on every rank), rank 0 logs and checkpoints;
/// the checkpoint does not depend on the world size.
/// </summary>
public static class AptStage
{
    /// <summary>A global micro-batch of <paramref name="size"/> real samples drawn with <paramref name="rng"/>.</summary>
    public delegate RealBatch DataSource(int size, Generator rng);

    /// <summary>The demo's phase on the synthetic latents with the study's teacher and text path.</summary>
    public static WanFlowModel RunPhase(StudyContext ctx, WanFlowModel init, bool video, Replicate? replicate = null) =>
        RunPhase(ctx, ctx.Teacher, init, video, (n, rng) =>
        {
            var (x, captions) = Batches.Sample(ctx, video, n, rng);
            return new RealBatch(x, ctx.Condition(captions));
        }, replicate);

    /// <summary>Runs one phase (apt.image or apt.video of the config) and returns its EMA generator.</summary>
    /// <param name="teacher">the ORIGINAL diffusion model: the discriminator's backbone is a copy of it</param>
    /// <param name="init">the generator's start (CD student, or the image phase's EMA); any flow model (Wan, OmniAvatar)</param>
    /// <param name="replicate">the training replicate (seeds, checkpoint names, metric tags); null = the run's seed</param>
    public static TModel RunPhase<TModel>(RunContext ctx, FlowModel teacher, TModel init, bool video, DataSource data, Replicate? replicate = null) where TModel : FlowModel
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        var apt = ctx.Config.Apt;
        var settings = video ? apt.Video : apt.Image;
        string phase = video ? "video" : "image";
        int world = ctx.WorldSize;
        if (apt.WorldSize > 0 && apt.WorldSize != world)
            throw new ArgumentException($"apt.world_size is {apt.WorldSize} (the effective batch assumes it) but the run has {world} rank(s); " +
                                        $"launch with `aptlab launch --nproc {apt.WorldSize}` or change apt.world_size");
        var generator = (TModel)init.Copy();
        generator.Module.train();
        var layers = apt.HeadLayers.Count > 0 ? apt.HeadLayers.ToArray() : null;
        using var discriminator = new Discriminator(teacher.Copy(), layers);
        using (var g = new Generator(replicate.Seed + (video ? Seeds.DiscriminatorHeadsVideo : Seeds.DiscriminatorHeadsImage))) discriminator.ResetReadout(g);
        discriminator.requires_grad_(true);
        RealBatch Data(long update, int micro, Generator rng) => data(settings.MicroBatch * world, rng);   // the global micro-batch
        using var trainer = new AptTrainer(generator, discriminator, settings, replicate.Seed + (video ? Seeds.AptVideo : Seeds.AptImage), Data, ctx.Group);
        var prefix = replicate.Tag("apt_" + phase);                     // metric tags
        var checkpoint = replicate.Checkpoint("apt_" + phase);          // periodic checkpoints
        var latest = ctx.AgreeWithMain(Checkpoints.Latest(ctx.Run.Checkpoints, checkpoint));
        if (latest is not null)
        {
            using var state = Checkpoint.Load(latest);
            trainer.LoadStateDict(state, int.Parse(state.Metadata["step"]), latest);
            ctx.Out.WriteLine($"[{replicate.Label("apt_" + phase)}] resumed from {latest} at update {trainer.Step}");
        }
        var progress = new ProgressReporter(replicate.Label("apt_" + phase), settings.Updates, ctx.Out, every: 10);
        while (trainer.Step < settings.Updates)
        {
            using var stats = trainer.Update();
            var scalars = stats.Scalars(prefix);
            scalars[$"{prefix}/lr"] = settings.LrGenerator;
            scalars[$"time/{checkpoint}_samples_per_s"] = progress.SamplesPerSecond;   // timing: time/* (docs/demo-study.md#determinism)
            ctx.Log.Scalars(trainer.Step, scalars);
            if (trainer.Step % 10 == 0)
            {
                ctx.Log.Histogram(trainer.Step, $"{prefix}/logits_real", stats.RealLogits);
                ctx.Log.Histogram(trainer.Step, $"{prefix}/logits_fake", stats.FakeLogits);
            }
            progress.Report(trainer.Step, new Dictionary<string, double>
            {
                ["D"] = stats.LossD, ["G"] = stats.LossG, ["aR1"] = stats.R1, ["real"] = stats.RealLogit, ["fake"] = stats.FakeLogit,
            }, settings.MicroBatch * settings.Accumulation * world * 2);
            if (trainer.Step % settings.CheckpointEvery == 0 || trainer.Step == settings.Updates)
                ctx.OnMain(() => Checkpoints.Save(ctx.Run.Checkpoints, checkpoint, trainer.Step, trainer.StateDict()));
        }
        var ema = (TModel)generator.Copy();
        trainer.Ema.copy_to(ema.Module);
        ema.Module.eval();
        generator.Dispose();
        return ema;
    }
}
