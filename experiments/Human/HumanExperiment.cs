using AptLab.Data;
using AptLab.Human;
using AptLab.Human.Data;
using AptLab.Human.Training;
using AptLab.Training;

namespace AptLab.Experiments.Human;

/// <summary>
/// <c>experiment: omnihuman</c>: OmniHuman's three-stage training in one run folder (docs/omnihuman.md#training).
/// <list type="number">
/// <item>Encoders: the released VAE, umT5 and wav2vec2, or tiny random ones; a study trains its VAE on the talking faces
/// first and fits the latent statistics -> checkpoints/encoders.safetensors (rank 0; skipped when present).</item>
/// <item>Data: the manifest, or (study) generated talking-face clips in &lt;run&gt;/data; every clip missing from the latent
/// cache is encoded once (rank 0, the others wait).</item>
/// <item>The DiT (Wan weights widened, or from scratch) with LoRA or fully trainable, and <see cref="OmniHumanTrainer"/>
/// through the stages: metrics.csv + TensorBoard, trainer checkpoints every checkpoint_every steps and at each stage's
/// end, each stage's model as checkpoints/omnihuman_stage{k}.safetensors, the last as checkpoints/omnihuman.safetensors.
/// Under `aptlab launch` the stages run data-parallel; --resume continues from the newest trainer checkpoint.</item>
/// <item>A study evaluates the model (<see cref="HumanStudy.Evaluate"/>) and writes README.md with the figures.</item>
/// </list>
/// </summary>
public static class HumanExperiment
{
    public static void Run(RunContext ctx, bool resumed)
    {
        var cfg = ctx.Config;
        var h = cfg.Human ?? throw new ArgumentException("experiment omnihuman needs a human: section");
        ctx.Out.WriteLine($"OmniHuman training: results in {ctx.Run.Root}");
        Directory.CreateDirectory(ctx.Run.Checkpoints);

        // (1) encoders
        var encodersPath = Path.Combine(ctx.Run.Checkpoints, HumanModels.EncodersFile);
        bool haveEncoders = ctx.AgreeWithMain(File.Exists(encodersPath));
        using var enc = HumanModels.Encoders(h, cfg.Seed, haveEncoders ? encodersPath : null);
        if (!haveEncoders)
        {
            if (h.Study is not null) ctx.OnMain(() => ctx.Timed("vae", () => HumanStudy.TrainVae(ctx, enc, h.Study)));
            ctx.OnMain(() => HumanModels.SaveEncoders(enc, encodersPath));
            if (h.Study is not null) HumanModels.LoadEncoders(enc, encodersPath);                  // every rank: rank 0's VAE
        }

        // (2) data and its latent cache
        var spec = h.Data.Spec(h.Model.MotionFrames);
        string cacheDir = "";
        ctx.OnMain(() => cacheDir = ctx.Timed("data", () => PrepareData(ctx, h, enc, spec)));
        cacheDir = ctx.AgreeWithMain(cacheDir)!;
        var arch = h.Model.Architecture(enc.TextDim, enc.TextLen, enc.AudioInDim);
        var dataset = new HumanCachedDataset(LatentCache.Open(cacheDir), enc.Stats, spec, arch, h.Data.PoseSigma);
        ctx.Out.WriteLine($"[data] {dataset.Count} clips ({dataset.AudioQualified.Count(q => q)} audio-qualified, {dataset.HasPose.Count(p => p)} with pose) in {cacheDir}");

        // (3) model and trainer: the run's precision and parallel mode (fsdp in one process: a group of one)
        var settings = h.Train.Settings(h.Model.GradientCheckpointing);
        var (dit, _) = HumanModels.Dit(h, arch, cfg.Seed, settings.Train == "lora", ctx.Out);
        using var _dit = dit;
        dit.to(ctx.WholeModelDevice);                                                   // ddp: the device; fsdp: the host until sharded
        using var trainer = new OmniHumanTrainer(dit, settings, dataset, cfg.Seed + Seeds.HumanTrainer, ctx.TrainingGroup, ctx.Precision, ctx.Parallel, ctx.Device);
        trainer.NonFinite = ctx.NonFinite("omnihuman");
        ctx.Out.WriteLine($"[train] {trainer.Trainable.Count} trainable tensors, {trainer.Run.TrainableElements:N0} of {trainer.Run.ModelElements:N0} parameters; " +
                          $"effective batch {settings.MicroBatch} x {settings.Accumulation} x {trainer.WorldSize} rank(s); stages {string.Join(" + ", settings.Stages.Select(s => s.Steps))} steps; " +
                          $"precision {ctx.Precision.ToConfigString()}, parallel {ctx.Parallel.ToConfigString()}");
        int? from = resumed ? trainer.ResumeLatest(ctx.Run.Checkpoints) : null;
        if (from is not null) ctx.Out.WriteLine($"[train] resumed from step {from}");
        if (File.Exists(ctx.Run.ConfigFile)) ctx.Log.Text(0, "config", "```yaml\n" + File.ReadAllText(ctx.Run.ConfigFile) + "\n```");

        // the model as a file: LoRA folded in, the masters rounded to the model's dtype (a collective under fsdp)
        void SaveModel(string path, Dictionary<string, string> metadata)
        {
            using var scope = torch.NewScope();
            var weights = trainer.Weights();
            ctx.OnMain(() => OmniHumanWeights.Save(path, dit, metadata, weights, h.Model.ModelDtype));
        }

        // (4) the stages
        ctx.Timed("train", () =>
        {
            var progress = new ProgressReporter("train", settings.TotalSteps, ctx.Out, every: Math.Max(1, settings.TotalSteps / 40));
            while (trainer.Step < settings.TotalSteps)
            {
                var stats = trainer.TrainStep();
                ctx.Log.Scalars(stats.Step, stats.Scalars());
                progress.Report(stats.Step, new Dictionary<string, double> { ["stage"] = stats.Stage, ["loss"] = stats.Loss, ["grad"] = stats.GradNorm },
                    settings.MicroBatch * settings.Accumulation * trainer.WorldSize);
                bool stageEnd = trainer.Step == settings.TotalSteps || settings.StageAt(trainer.Step) != stats.Stage;
                if (trainer.Step % h.Train.CheckpointEvery == 0 || stageEnd) trainer.SaveCheckpoint(ctx.Run.Checkpoints);
                if (stageEnd)
                    SaveModel(Path.Combine(ctx.Run.Checkpoints, $"omnihuman_stage{stats.Stage}.safetensors"),
                        new Dictionary<string, string> { ["stage"] = stats.Stage.ToString(), ["step"] = trainer.Step.ToString() });
            }
        });
        if (ctx.Group is not null && trainer.MaxDeviationFromRankZero() is { } dev)
        {
            ctx.Out.WriteLine($"[check] trainable parameters of all {ctx.WorldSize} ranks: max |difference| from rank 0 = {dev:G3}");
            if (dev != 0) throw new InvalidOperationException($"data-parallel ranks diverged: trainable parameters differ from rank 0 by up to {dev:G3}");
        }
        var product = Path.Combine(ctx.Run.Checkpoints, HumanModels.DitFile);
        SaveModel(product, new Dictionary<string, string> { ["experiment"] = cfg.Name, ["steps"] = trainer.Step.ToString() });
        ctx.Out.WriteLine($"[train] OmniHuman weights: {product}");

        // (5) the study's evaluation, on the product (under fsdp no rank holds the trained model whole)
        if (h.Study is not null)
            ctx.OnMain(() =>
            {
                using var model = OmniHumanWeights.Load(product, dtype: h.Model.ModelDtype);
                ctx.Timed("eval", () => HumanStudy.Evaluate(ctx, h, cfg.Seed, enc, spec, new HumanStudy.TeacherSampler(model, h.Inference), "omnihuman"));
            });
    }

    /// <summary>The manifest (given, or the study's generated clips) and the latent cache completed for it; returns the
    /// cache folder.</summary>
    public static string PrepareData(RunContext ctx, HumanConfig h, HumanEncoders enc, HumanClipSpec spec)
    {
        var d = h.Data;
        string manifestPath;
        if (h.Study is null && d.Manifest.Length == 0) return HumanModels.RandomCache(ctx, h, spec, enc.TextDim, enc.AudioInDim);
        if (h.Study is not null) manifestPath = HumanStudy.WriteClips(ctx, h, spec);
        else manifestPath = Path.GetFullPath(d.Manifest);
        var manifest = HumanManifest.Load(manifestPath);
        var cacheDir = d.Cache.Length > 0 ? Path.GetFullPath(d.Cache)
            : h.Study is not null ? ctx.Run.File("cache") : Path.Combine(manifest.Directory, $"cache-{d.Height}x{d.Width}x{spec.MotionFrames}+{d.Frames}");
        var cache = LatentCache.Open(cacheDir);
        int missing = manifest.Clips.Count(c => !cache.Contains(c.Id));
        if (missing == 0) { ctx.Out.WriteLine($"[encode] all {manifest.Clips.Count} clips found in {cacheDir}"); return cacheDir; }
        int n = new HumanCacheEncoder(enc.Vae, enc.Text, enc.Audio(d.Fps), spec).EncodeAll(manifest, cache, ctx.Out);
        ctx.Out.WriteLine($"[encode] {n} clips encoded, {manifest.Clips.Count - n} from the cache: {cacheDir}");
        return cacheDir;
    }
}
