using AptLab.Data;
using AptLab.Data.Synthetic;
using AptLab.Logging;
using AptLab.Wan.Vae;
using AptLab.Torch.Distributed;
using AptLab.Training;
using AptLab.Avatar.Training;
using AptLab.Avatar.Data;

namespace AptLab.Experiments.Avatar;

/// <summary>
/// <c>experiment: omniavatar-finetune</c>: OmniAvatar fine-tuning in one run folder. (1) Data: the manifest, or generated
/// talking-shape clips; rank 0 encodes every clip missing from the latent cache (VAE, wav2vec2 features, umT5) while the
/// other ranks wait. (2) The DiT (training init, Wan base, LoRA) and <see cref="OmniAvatarTrainer"/>, data-parallel under
/// `aptlab launch` (each rank its <see cref="DistributedSampler"/> share). (3) Steps logged to metrics.csv and
/// TensorBoard, checkpoints every checkpoint_every steps and at the end (rank 0); --resume continues from the newest.
/// (4) A check that all ranks hold identical trainable weights, and the export <c>omniavatar/pytorch_model.pt</c> +
/// <c>config.json</c> (the released layout, loadable by <c>aptlab avatar</c> as exp_path).
/// </summary>
public static class AvatarFinetuneExperiment
{
    public const string ExportFolder = "omniavatar";

    /// <param name="logs">a resumed run: what its logs keep of the earlier attempt's (<see cref="RunResume"/>; rank 0)</param>
    public static void Run(ExperimentConfig cfg, RunDirectory run, TextWriter output, ProcessGroup? group, bool resume, ResumePoint? logs = null)
    {
        var a = cfg.Avatar!;
        bool main = DistributedRun.IsMainProcess(group);
        var log = main ? output : TextWriter.Null;
        log.WriteLine($"OmniAvatar fine-tuning: results in {run.Root}");

        // (1) data, encoded once by rank 0
        string cacheDir = "";
        DistributedRun.OnMainProcess(group, () => cacheDir = PrepareData(a, cfg.Seed, run, log));
        cacheDir = DistributedRun.BroadcastString(group, main ? cacheDir : null);
        var dataset = new AvatarCachedDataset(LatentCache.Open(cacheDir), LatentStats.Wan21);
        var sampler = DistributedSampler.For(group, dataset.Count, shuffle: true, seed: cfg.Seed);
        var source = new AvatarBatchSource(dataset, sampler, a.MicroBatch, a.Accumulation);
        log.WriteLine($"[data] {dataset.Count} clips ({cacheDir}); {source.MicroBatchesPerEpoch} micro-batches of {a.MicroBatch} per rank and epoch");

        // (2) model and trainer
        torch.manual_seed(cfg.Seed);
        var (dit, lora) = AvatarFinetuneModels.BuildDit(a, cfg.Seed, log);
        using var _dit = dit;
        var device = Device.Parse(cfg.Device);
        if (cfg.ParallelMode == ParallelMode.Ddp) dit.to(device);                       // fsdp: the host until sharded, shards on the device
        using var own = cfg.ParallelMode == ParallelMode.Fsdp && group is null ? ParallelModules.GroupOfOne() : null;   // fsdp in one process
        using var trainer = new OmniAvatarTrainer(dit, a.Settings(), cfg.Seed, group ?? own, cfg.TrainingPrecision, cfg.ParallelMode, device);
        trainer.NonFinite = new NonFiniteGuard("avatar", cfg.Nonfinite, cfg.MaxNonfiniteSkips, group, log);
        log.WriteLine($"[train] {trainer.Trainable.Count} trainable tensors, {trainer.Run.TrainableElements} of {trainer.Run.ModelElements} parameters; " +
                      $"effective batch {a.MicroBatch} x {a.Accumulation} x {trainer.WorldSize} ranks");
        if (group is not null) log.WriteLine($"data-parallel: {group.world_size} ranks ({group.backend}); rank 0 writes {run.Root}");
        int? resumed = resume ? trainer.ResumeLatest(run.Checkpoints) : null;
        if (resumed is not null) log.WriteLine($"[train] resumed from step {resumed}");

        // (3) the loop
        using (var logger = main ? new RunLogger(run.Events, run.MetricsCsv, logs) : RunLogger.Discard())
        {
            if (main && File.Exists(run.ConfigFile)) logger.Text(0, "config", "```yaml\n" + File.ReadAllText(run.ConfigFile) + "\n```");
            var progress = new ProgressReporter("avatar", a.Steps, log, every: Math.Max(1, a.Steps / 20));
            while (trainer.Step < a.Steps)
            {
                var stats = trainer.TrainStep(source.Get);
                var scalars = stats.Scalars();
                logger.Scalars(stats.Step, scalars);
                progress.Report(stats.Step, new Dictionary<string, double> { ["loss"] = stats.Loss, ["grad"] = stats.GradNorm, ["lr"] = stats.Lr },
                    a.MicroBatch * a.Accumulation * trainer.WorldSize);
                if (trainer.Step % a.CheckpointEvery == 0 || trainer.Step == a.Steps)
                {
                    logger.Flush();                                                  // the logs cover what the checkpoint covers
                    trainer.SaveCheckpoint(run.Checkpoints);
                }
            }
        }

        // (4) rank agreement and export
        if (group is not null && trainer.MaxDeviationFromRankZero() is { } dev)
        {
            log.WriteLine($"[check] trainable parameters of all {group.world_size} ranks: max |difference| from rank 0 = {dev:G3}");
            if (dev != 0) throw new InvalidOperationException($"data-parallel ranks diverged: trainable parameters differ from rank 0 by up to {dev:G3}");
        }
        using var scope = torch.NewScope();
        var trained = trainer.TrainedWeights();                                         // the masters; a collective under fsdp
        DistributedRun.OnMainProcess(group, () =>
        {
            var path = OmniAvatarExport.Save(dit, lora, run.File(ExportFolder), trained, a.ModelDtype());
            log.WriteLine($"[export] {path} ({OmniAvatarExport.ConfigFile} beside it, {a.Dtype})");
        });
    }

    /// <summary>The manifest (given, or generated clips), and the latent cache completed for it; returns the cache folder.</summary>
    public static string PrepareData(AvatarFinetuneConfig a, ulong seed, RunDirectory? run, TextWriter log)
    {
        var d = a.Data;
        var dataDir = d.Dir.Length > 0 ? Path.GetFullPath(d.Dir) : run?.File("data") ?? throw new ArgumentException("avatar.data.dir is required without a run folder");
        string manifestPath;
        if (d.Manifest.Length > 0) manifestPath = Path.GetFullPath(d.Manifest);
        else
        {
            bool existed = File.Exists(Path.Combine(dataDir, TalkingShapes.ManifestName));
            manifestPath = TalkingShapes.Write(dataDir, d.SyntheticClips, d.Height, d.Frames, seed, d.Fps);
            log.WriteLine(existed ? $"[data] {manifestPath} (existing)" : $"[data] generated {d.SyntheticClips} clips: {manifestPath}");
        }
        var manifest = AvatarManifest.Load(manifestPath);
        var cacheDir = d.Cache.Length > 0 ? Path.GetFullPath(d.Cache)
            : Path.Combine(d.Manifest.Length > 0 ? manifest.Directory : dataDir, $"cache-{d.Height}x{d.Width}x{d.Frames}");
        var cache = LatentCache.Open(cacheDir);
        int missing = manifest.Clips.Count(c => !cache.Contains(c.Id));
        if (missing == 0) { log.WriteLine($"[encode] all {manifest.Clips.Count} clips found in {cacheDir}"); return cacheDir; }
        var (vae, text, w2v) = AvatarFinetuneModels.BuildEncoders(a, seed);
        try
        {
            int n = new AvatarCacheEncoder(vae, text, w2v, d.Spec()).EncodeAll(manifest, cache);
            log.WriteLine($"[encode] {n} clips encoded, {manifest.Clips.Count - n} from the cache: {cacheDir}");
        }
        finally { vae.Dispose(); text.Encoder.Dispose(); text.Tokenizer.Dispose(); w2v.Dispose(); }
        return cacheDir;
    }
}
