using AptLab.Apt;
using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// Stage 4: adversarial post-training (apt.md 5). The image phase starts the generator from the CD student and the
/// discriminator from the ORIGINAL teacher; the video phase starts the generator from the image phase's EMA and a
/// freshly re-initialised discriminator. Each phase checkpoints G, D, EMA and both optimizers atomically and resumes
/// from its newest checkpoint. Under `aptlab launch` the phase is data-parallel: each rank trains on its share of
/// the global micro-batch (micro_batch x world size samples, drawn alike on every rank), rank 0 logs and checkpoints;
/// the checkpoint does not depend on the world size.
/// </summary>
public static class AptStage
{
    /// <summary>Runs one phase and returns its EMA generator.</summary>
    public static WanFlowModel RunPhase(StudyContext ctx, string phase, WanFlowModel init, bool video, AptPhaseConfig cfg)
    {
        var settings = cfg.Settings(phase);
        var generator = (WanFlowModel)init.Copy();
        generator.Module.train();
        var layers = ctx.Config.Apt.HeadLayers.Count > 0 ? ctx.Config.Apt.HeadLayers.ToArray() : null;
        using var discriminator = new Discriminator(ctx.Teacher.Copy(), layers);
        discriminator.requires_grad_(true);
        int world = ctx.Group?.world_size ?? 1;
        RealBatch Data(long update, int micro, Generator rng)
        {
            var (x, captions) = Batches.Sample(ctx, video, settings.MicroBatch * world, rng);   // the global micro-batch
            return new RealBatch(x, ctx.Condition(captions));
        }
        using var trainer = new AptTrainer(generator, discriminator, settings, ctx.Config.Seed + (video ? 55UL : 44UL), Data, ctx.Group);
        var prefix = "apt_" + phase;
        var latest = ctx.AgreeWithMain(Checkpoints.Latest(ctx.Run.Checkpoints, prefix));
        if (latest is not null)
        {
            using var state = Checkpoint.Load(latest);
            trainer.LoadStateDict(state, int.Parse(state.Metadata["step"]), latest);
            ctx.Out.WriteLine($"[{prefix}] resumed from {latest} at update {trainer.Step}");
        }
        var progress = new ProgressReporter(prefix, settings.Updates, ctx.Out, every: 10);
        while (trainer.Step < settings.Updates)
        {
            using var stats = trainer.Update();
            var scalars = stats.Scalars(prefix);
            scalars[$"{prefix}/lr"] = settings.LrGenerator;
            scalars[$"{prefix}/samples_per_s"] = progress.SamplesPerSecond;
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
                ctx.OnMain(() => Checkpoints.Save(ctx.Run.Checkpoints, prefix, trainer.Step, trainer.StateDict()));
        }
        var ema = (WanFlowModel)generator.Copy();
        trainer.Ema.copy_to(ema.Module);
        ema.Module.eval();
        generator.Dispose();
        return ema;
    }
}
