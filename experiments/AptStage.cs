using AptLab.Apt;
using AptLab.Torch.IO;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// Stage 4: adversarial post-training (docs/apt.md#training-loop). The image phase starts the generator from the CD
/// student and the discriminator from the ORIGINAL teacher; the video phase starts the generator from the image phase's
/// EMA and a freshly re-initialised discriminator. G and D train under the run's precision and parallel mode
/// (<see cref="AptTrainer"/>; docs/precision-and-parallelism.md). Each phase checkpoints G, D, EMA and both optimizers
/// atomically through <see cref="AptTrainer.SaveCheckpoint"/> (under fsdp every rank's shard plus the consolidated
/// file) and resumes from the newest one (<see cref="AptTrainer.ResumeLatest"/>, at any world size). Under `aptlab
/// launch` the phase is data-parallel: each rank trains on its share of the global micro-batch (micro_batch x world
/// size samples, drawn alike on every rank), rank 0 logs and writes the product. A training replicate
/// (<see cref="Replicate"/>) trains with its own seeds and has its own checkpoints, product and metric tags
/// (apt_image_seed&lt;s&gt;, apt_image_ema_seed&lt;s&gt;, apt_image/seed&lt;s&gt;/...).
/// </summary>
public static class AptStage
{
    /// <summary>A global micro-batch of <paramref name="size"/> real samples drawn with <paramref name="rng"/>.</summary>
    public delegate RealBatch DataSource(int size, Generator rng);

    /// <summary>The product of a phase: checkpoints/apt_image_ema.safetensors or apt_video_ema.safetensors (replicate
    /// k: apt_image_ema_seed&lt;s&gt;, ...; null = the run's seed).</summary>
    public static string Product(bool video, Replicate? replicate = null)
    {
        var name = video ? "apt_video_ema" : "apt_image_ema";
        return replicate?.Checkpoint(name) ?? name;
    }

    /// <summary>The demo's phase on the synthetic latents with the study's teacher and text path.</summary>
    public static WanFlowModel Phase(StudyContext ctx, WanFlowModel init, string initWeights, bool video, Replicate? replicate = null)
    {
        var tag = (replicate ?? Replicate.Of(ctx.Config.Seed, 0)).Tag("apt_" + (video ? "video" : "image"));
        return Phase(ctx, ctx.Teacher, init, initWeights, video, (n, rng) =>
        {
            var (x, captions) = Batches.Sample(ctx, video, n, rng);
            return new RealBatch(x, ctx.Condition(captions));
        }, (step, ema) => SamplePreview.Log(ctx, tag, step, ema, video), replicate);
    }

    /// <summary>An APT run is launched with the ranks its effective batch assumes (<c>apt.world_size</c>, 0 = any);
    /// checked before the run folder exists (<see cref="ExperimentKinds.Launch"/>) and again by each phase.</summary>
    public static void CheckWorldSize(int configured, int world)
    {
        if (configured > 0 && configured != world)
            throw new ArgumentException($"apt.world_size is {configured} (the effective batch assumes it) but the run has {world} rank(s); " +
                                        $"launch with `aptlab launch --nproc {configured}` or change apt.world_size");
    }

    /// <summary>The EMA generator of a phase on every rank: this run's product when it exists (a resumed run), else
    /// the phase is trained (<see cref="RunPhase"/>, timed; it writes the product); the product is read into a copy of
    /// <paramref name="init"/>.</summary>
    /// <param name="teacher">the ORIGINAL diffusion model: the discriminator's backbone is a copy of it</param>
    /// <param name="init">the generator's template (architecture, dtype, device)</param>
    /// <param name="initWeights">the file the generator starts from (the CD student, the image phase's EMA), read in full
    /// precision into the masters (each rank reads its shards under fsdp)</param>
    /// <param name="preview">logs a sample sheet of the EMA generator every apt.sample_every updates, on rank 0 (null: none)</param>
    /// <param name="replicate">the training replicate (seeds, checkpoint and product names, metric tags); null = the run's seed</param>
    public static TModel Phase<TModel>(RunContext ctx, FlowModel teacher, TModel init, string initWeights, bool video, DataSource data,
        Action<long, FlowModel>? preview = null, Replicate? replicate = null) where TModel : FlowModel
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        string product = Product(video, replicate);
        if (!StudyCheckpoints.Has(ctx, product))
            ctx.Timed(replicate.Label(video ? "apt_video" : "apt_image"), () => RunPhase(ctx, teacher, init, initWeights, video, data, preview, replicate));
        return StudyCheckpoints.LoadModel(ctx, init, product);
    }

    /// <summary>Trains one phase (apt.image or apt.video of the config) and writes its EMA generator (the product, in
    /// the master dtype) to checkpoints/.</summary>
    /// <param name="replicate">the training replicate (seeds, checkpoint and product names, metric tags); null = the run's seed</param>
    public static void RunPhase(RunContext ctx, FlowModel teacher, FlowModel init, string initWeights, bool video, DataSource data,
        Action<long, FlowModel>? preview = null, Replicate? replicate = null)
    {
        replicate ??= Replicate.Of(ctx.Config.Seed, 0);
        var apt = ctx.Config.Apt;
        var settings = video ? apt.Video : apt.Image;
        string phase = video ? "video" : "image";
        int world = ctx.WorldSize;
        CheckWorldSize(apt.WorldSize, world);
        using var generator = init.Copy();
        generator.Module.train();
        var layers = apt.HeadLayers.Count > 0 ? apt.HeadLayers.ToArray() : null;
        using var discriminator = new Discriminator(teacher.Copy(), layers);
        using (var g = new Generator(replicate.Seed + (video ? Seeds.DiscriminatorHeadsVideo : Seeds.DiscriminatorHeadsImage))) discriminator.ResetReadout(g);
        discriminator.requires_grad_(true);
        RealBatch Data(long update, int micro, Generator rng) => data(settings.MicroBatch * world, rng);   // the global micro-batch
        using var trainer = new AptTrainer(generator, discriminator, settings, replicate.Seed + (video ? Seeds.AptVideo : Seeds.AptImage), Data,
            ctx.TrainingGroup, ctx.Precision, ctx.Parallel, ctx.Device);
        var prefix = replicate.Tag("apt_" + phase);                                     // metric tags
        var checkpoint = replicate.Checkpoint("apt_" + phase);                          // periodic checkpoints
        var label = replicate.Label("apt_" + phase);                                    // progress lines
        trainer.NonFinite = ctx.NonFinite(prefix);
        if (trainer.ResumeLatest(ctx.Run.Checkpoints, checkpoint) is { } resumed)
            ctx.Out.WriteLine($"[{label}] resumed from {resumed} at update {trainer.Step}");
        else
        {
            using var start = Checkpoint.Load(initWeights);
            trainer.LoadGenerator(start, initWeights);
        }
        ctx.Out.WriteLine($"[{label}] precision {ctx.Config.Precision}, parallel {ctx.Config.Parallel} over {trainer.WorldSize} rank(s)");
        var progress = new ProgressReporter(label, settings.Updates, ctx.Out, every: 10);
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
            if (preview is not null && SamplePreview.Due(apt.SampleEvery, trainer.Step)) Preview(ctx, trainer, init, preview);
            if (trainer.Step % settings.CheckpointEvery == 0 || trainer.Step == settings.Updates)
            {
                ctx.Log.Flush();                                                             // the logs cover what the checkpoint covers
                trainer.SaveCheckpoint(ctx.Run.Checkpoints, checkpoint);
            }
        }
        using var scope = torch.NewScope();
        var ema = trainer.EmaStateDict();                                                // a collective under fsdp; full on rank 0
        var product = Product(video, replicate);
        ctx.OnMain(() =>
        {
            ctx.Log.Flush();
            Safetensors.Save(StudyCheckpoints.PathOf(ctx, product), WithBuffers(ema, init), new Dictionary<string, string>
            {
                ["stage"] = product, ["updates"] = trainer.Step.ToString(), ["precision"] = ctx.Config.Precision, ["parallel"] = ctx.Config.Parallel,
            });
        });
    }

    // The EMA generator so far, gathered (a collective under fsdp: every rank calls it) into a copy of the template on
    // rank 0, which draws the sample sheet.
    private static void Preview(RunContext ctx, AptTrainer trainer, FlowModel init, Action<long, FlowModel> preview)
    {
        using var scope = torch.NewScope();
        var ema = trainer.EmaStateDict();                                                // full on rank 0
        if (!ctx.IsMain) return;
        using var current = init.Copy();
        current.Module.load_state_dict(WithBuffers(ema, init), source: "the EMA generator");
        current.Module.eval();
        preview(trainer.Step, current);
    }

    // The EMA holds the trained parameters; a model's state dict also has its persistent buffers (none in the DiTs
    // today, but a loadable product must carry them): taken from the template.
    private static Dictionary<string, Tensor> WithBuffers(Dictionary<string, Tensor> ema, FlowModel init)
    {
        if (ema.Count == 0) return ema;                                                  // ranks other than 0
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in init.Module.state_dict()) d[k] = ema.TryGetValue(k, out var e) ? e : v;
        return d;
    }
}
