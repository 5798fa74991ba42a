using AptLab.Apt;
using AptLab.Config;
using AptLab.Data;
using AptLab.Human;
using AptLab.Human.Apt;
using AptLab.Human.Data;
using AptLab.Human.Training;

namespace AptLab.Experiments.Human;

/// <summary>
/// <c>experiment: apt-omnihuman</c>: the one-step OmniHuman student (docs/omnihuman.md#apt), as apt-omniavatar does for
/// OmniAvatar, in one run folder:
/// <list type="number">
/// <item>the teacher: checkpoints/omnihuman.safetensors of the omnihuman run <c>human.from</c> (with its encoders, latent
/// cache and data settings), or <c>human.model.weights</c> + <c>human.data.cache</c>, or (random_weights) a tiny random
/// OmniHuman with random cache samples; frozen;</item>
/// <item>consistency distillation (<see cref="CdStage"/>; the teacher's CFG negative = no text and no audio,
/// <see cref="OmniHumanFlowModel.Negative"/>; image (one latent frame) and segment batches alternate) -> cd.safetensors;</item>
/// <item>the image phase from the CD student and the video phase from its EMA, each with a discriminator copied afresh
/// from the teacher (<see cref="AptStage"/>) -> apt_image_ema, apt_video_ema;</item>
/// <item>generator.safetensors (an OmniHuman file: <c>OmniHumanWeights.Load</c>, then one forward at σ = 1), and, when the
/// teacher comes from a study, the teacher (multi-step, CFG annealing) vs the one-step students on the study's measures
/// (README.md, eval.csv).</item>
/// </list>
/// Batches draw their conditions with <c>human.apt_conditions</c> (text, reference and audio on, pose and motion frames
/// half the time by default) from the cache's pools.
/// </summary>
public static class HumanAptExperiment
{
    public const string Export = "generator.safetensors";

    /// <summary>The teacher's side of the run: its section (the from-run's own for <c>human.from</c>), encoders, data.</summary>
    public sealed class TeacherSide : IDisposable
    {
        public required HumanConfig Config { get; init; }
        public required OmniHumanFlowModel Teacher { get; init; }
        public required HumanCachedDataset Data { get; init; }
        public required HumanEncoders? Encoders { get; init; }
        /// <summary>The seed of the run that made the data (the study's held-out clips depend on it).</summary>
        public ulong DataSeed { get; init; }
        public void Dispose() { Teacher.Dispose(); Encoders?.Dispose(); }
    }

    public static void Run(RunContext ctx)
    {
        using var side = Teacher(ctx);
        var h = ctx.Config.Human!;
        var data = side.Data;
        var sampler = data.Sampler();
        var ratios = h.AptConditions.Stage().Ratios;
        if (sampler.AudioPool.Count == 0) ratios = ratios with { Audio = 0, Pose = 0 };
        if (sampler.PosePool.Count == 0) ratios = ratios with { Pose = 0 };
        ratios.Validate("human.apt_conditions");
        RealBatch Batch(int size, bool video, Generator rng)
        {
            using var scope = torch.NewScope();
            var b = data.Batch(sampler.Draw(size, ratios, rng));
            if (!video) b = b.FirstFrames(1, data.Model.VaeTemporal);
            var rb = new RealBatch(b.Latents.contiguous(), new Conditioning(b.Context, Extras: OmniHumanFlowModel.ToExtras(b.Conditions)));
            scope.Keep(rb.Latents);
            scope.KeepAll([rb.Condition.Context, .. rb.Condition.Extras!.Values]);
            return rb;
        }
        ctx.Log.Text(0, "config", "```yaml\n" + (File.Exists(ctx.Run.ConfigFile) ? File.ReadAllText(ctx.Run.ConfigFile) : "") + "\n```");
        var teacher = side.Teacher;
        OmniHumanFlowModel? cd = null, image = null, video = null;
        try
        {
            cd = CdStage.Student(ctx, teacher, () =>
            {
                using var student = (OmniHumanFlowModel)teacher.Copy();
                Trainable(student, h.Model.GradientCheckpointing);
                CdStage.Train(ctx, student, teacher, (step, size, rng) => Batch(size, step % 2 == 0, rng), OmniHumanFlowModel.Negative);
            });
            image = Phase(ctx, teacher, cd, StudyCheckpoints.PathOf(ctx, CdStage.Stage), Batch, false);
            video = Phase(ctx, teacher, image, StudyCheckpoints.PathOf(ctx, AptStage.Product(video: false)), Batch, true);
            ctx.OnMain(() => OmniHumanWeights.Save(ctx.Run.File(Export), video.Net, new Dictionary<string, string>
            {
                ["stage"] = "apt_video_ema", ["experiment"] = ctx.Config.Name, ["updates"] = $"{ctx.Config.Apt.Image.Updates}+{ctx.Config.Apt.Video.Updates}",
            }));
            ctx.Out.WriteLine($"[apt-omnihuman] one-step generator: {ctx.Run.File(Export)}");
            if (side.Config.Study is not null && side.Encoders is not null)
            {
                foreach (var m in new[] { teacher, cd, image, video }) { m.Net.eval(); m.Net.GradientCheckpointing = false; }
                var spec = side.Config.Data.Spec(side.Config.Model.MotionFrames);
                ctx.OnMain(() => ctx.Timed("eval", () => HumanStudy.Evaluate(ctx, side.Config, side.DataSeed, side.Encoders, spec,
                    new HumanStudy.TeacherSampler(teacher.Net, side.Config.Inference), "apt-omnihuman",
                    new HumanStudy.OneStepSampler("CD, 1 step", cd), new HumanStudy.OneStepSampler("APT, 1 step", video))));
            }
        }
        finally
        {
            cd?.Dispose();
            image?.Dispose();
            video?.Dispose();
        }
    }

    private static OmniHumanFlowModel Phase(RunContext ctx, OmniHumanFlowModel teacher, OmniHumanFlowModel init, string initWeights,
        Func<int, bool, Generator, RealBatch> batch, bool video) =>
        AptStage.Phase(ctx, teacher, init, initWeights, video, (n, rng) => batch(n, video, rng));

    private static void Trainable(OmniHumanFlowModel m, bool checkpointing)
    {
        m.Net.requires_grad_(true);
        m.Net.train();
        m.Net.GradientCheckpointing = checkpointing;
    }

    /// <summary>The teacher, its data and (from an omnihuman run) its encoders.</summary>
    public static TeacherSide Teacher(RunContext ctx)
    {
        var h = ctx.Config.Human!;
        if (h.From.Length > 0)
        {
            var recorded = Path.Combine(h.From, "config.yaml");
            var from = ConfigLoader.Load<ExperimentConfig>(recorded);
            var fh = from.Human ?? throw new InvalidDataException($"{recorded}: not an omnihuman run (no human: section)");
            var enc = HumanModels.Encoders(fh, from.Seed, Path.Combine(h.From, "checkpoints", HumanModels.EncodersFile));
            var net = OmniHumanWeights.Load(Path.Combine(h.From, "checkpoints", HumanModels.DitFile), ctx.Device, h.Model.ModelDtype);
            var spec = fh.Data.Spec(fh.Model.MotionFrames);
            var cacheDir = fh.Data.Cache.Length > 0 ? fh.Data.Cache : Path.Combine(h.From, "cache");
            var data = new HumanCachedDataset(LatentCache.Open(cacheDir), enc.Stats, spec, net.config, fh.Data.PoseSigma);
            ctx.Out.WriteLine($"[apt-omnihuman] teacher: {h.From} (dim {net.wanConfig.Dim}, {net.wanConfig.NumLayers} blocks); {data.Count} clips from {cacheDir}");
            return new TeacherSide { Config = fh, Teacher = Frozen(net, h), Data = data, Encoders = enc, DataSeed = from.Seed };
        }
        var spec2 = h.Data.Spec(h.Model.MotionFrames);
        if (h.Model.RandomWeights && h.Model.Weights.Length == 0)
        {
            var arch = RandomTeacher(h.Model);
            int textDim = arch.Wan.TextDim, audioDim = arch.AudioInDim;
            torch.manual_seed(ctx.Config.Seed);
            using var g = new Generator(ctx.Config.Seed);
            var net = new OmniHumanModel(arch, h.Model.ModelDtype, ctx.Device, g);
            AptLab.Torch.nn.init.nontrivial_(net, g);
            var folder = ctx.Run.File("cache");
            ctx.OnMain(() => HumanModels.RandomCache(ctx, h, spec2, textDim, audioDim));
            var stats = new Wan.Vae.LatentStats(new float[16], Enumerable.Repeat(1f, 16).ToArray());
            var data = new HumanCachedDataset(LatentCache.Open(folder), stats, spec2, arch, h.Data.PoseSigma);
            ctx.Out.WriteLine($"[apt-omnihuman] teacher: tiny random OmniHuman (dim {arch.Wan.Dim}, {arch.Wan.NumLayers} blocks, seed {ctx.Config.Seed}); {data.Count} random samples");
            return new TeacherSide { Config = h, Teacher = Frozen(net, h), Data = data, Encoders = null };
        }
        var weights = HumanModels.ResolveWeights(h.Model.Weights, "human.model.weights");
        var model = OmniHumanWeights.Load(weights, ctx.Device, h.Model.ModelDtype);
        if (h.Data.Cache.Length == 0) throw new ConfigException("config key 'human.data.cache': apt-omnihuman with human.model.weights needs the latent cache of the training clips");
        var enc2 = HumanModels.Encoders(h, ctx.Config.Seed);
        var ds = new HumanCachedDataset(LatentCache.Open(h.Data.Cache), enc2.Stats, spec2, model.config, h.Data.PoseSigma);
        return new TeacherSide { Config = h, Teacher = Frozen(model, h), Data = ds, Encoders = enc2 };
    }

    /// <summary>The tiny random teacher's architecture (random_weights without human.from or human.model.weights): text
    /// width 32 and audio features of width 12, the random cache's.</summary>
    public static OmniHumanConfig RandomTeacher(HumanModelConfig m) => m.Architecture(32, m.TextLen, 12);

    private static OmniHumanFlowModel Frozen(OmniHumanModel net, HumanConfig h)
    {
        net.requires_grad_(false);
        net.eval();
        net.GradientCheckpointing = h.Model.GradientCheckpointing;
        return new OmniHumanFlowModel(net);
    }
}
