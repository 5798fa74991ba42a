using AptLab.Evaluation.Standard;
using AptLab.Apt;
using AptLab.Config;
using AptLab.Avatar.Apt;
using AptLab.Experiments.Avatar;
using AptLab.Training;
using AptLab.Experiments.Human;

namespace AptLab.Experiments;

/// <summary>
/// The YAML of an experiment (configs/*.yaml). <c>experiment</c> picks the procedure: <c>demo</c> runs the whole
/// study (VAE + text + teacher, consistency distillation, APT image and video phases, comparison) in one run folder;
/// <c>teacher</c>, <c>distill</c>, <c>apt</c>, <c>compare</c> and <c>sample</c> run one stage; <c>apt-wan</c> runs CD and
/// both APT phases of a released Wan 2.1 DiT (its <c>wan</c> section), <c>apt-omniavatar</c> those of an OmniAvatar
/// teacher (its <c>omniavatar</c> section); <c>omniavatar-finetune</c> fine-tunes OmniAvatar (see
/// <see cref="ExperimentKinds"/> for the chaining scheme).
/// </summary>
public sealed class ExperimentConfig : IValidatable
{
    public string Experiment { get; set; } = "demo";
    public string Name { get; set; } = "demo";
    public ulong Seed { get; set; } = 0;
    public string Device { get; set; } = "cpu";
    /// <summary>Intra-op threads (0 = the machine's cores).</summary>
    public int Threads { get; set; } = 0;
    public string Results { get; set; } = "results";
    /// <summary>fp32 | bf16-mixed | bf16: the precision policy of every trainer of the run (teacher, CD, APT G, D and
    /// EMA, the OmniAvatar fine-tune; docs/precision-and-parallelism.md). bf16-mixed = bf16 compute over float32 master
    /// weights, gradients as accumulated, optimizer state and EMA.</summary>
    public string Precision { get; set; } = "fp32";
    /// <summary>ddp | fsdp: how the ranks share each trained network (CD student, APT G and D, the OmniAvatar
    /// fine-tune): whole replicas, or 1/N of every weight, gradient, optimizer state and EMA per rank. One process runs
    /// either. The demo's VAE and teacher stages stay replicated (computed alike on every rank).</summary>
    public string Parallel { get; set; } = "ddp";

    /// <summary><see cref="Precision"/> parsed.</summary>
    [YamlDotNet.Serialization.YamlIgnore]
    public Training.Precision TrainingPrecision => PrecisionPolicy.Parse(Precision);

    /// <summary><see cref="Parallel"/> parsed.</summary>
    [YamlDotNet.Serialization.YamlIgnore]
    public ParallelMode ParallelMode => ParallelModes.Parse(Parallel);
    /// <summary>At a NaN or infinite loss or gradient norm in any trainer: <c>stop</c> the run at once (default) or
    /// <c>skip</c> the update, at most <see cref="MaxNonfiniteSkips"/> times per stage (docs/reliability.md#7-diverged-runs).</summary>
    public AptLab.Training.NonFiniteMode Nonfinite { get; set; } = AptLab.Training.NonFiniteMode.Stop;
    public int MaxNonfiniteSkips { get; set; } = 10;
    public DataConfig Data { get; set; } = new();
    public VaeStageConfig Vae { get; set; } = new();
    public TextStageConfig Text { get; set; } = new();
    public TeacherStageConfig Teacher { get; set; } = new();
    /// <summary>How the teacher and the one-step generators are sampled (comparison, CD's teacher negative).</summary>
    public SamplingConfig Sampling { get; set; } = new();
    public DistillStageConfig Distill { get; set; } = new();
    public AptStagesConfig Apt { get; set; } = new();
    public CompareStageConfig Compare { get; set; } = new();
    /// <summary>Independent training replicates of the study's CD and APT stages, and the intervals of the comparison.</summary>
    public ReplicatesConfig Replicates { get; set; } = new();
    /// <summary>APT on Wan 2.1 checkpoints with latent-cache data (apt kind); absent for the demo's tiny models.</summary>
    public WanAptConfig? Wan { get; set; }
    /// <summary>experiment: omniavatar-finetune (AvatarFinetuneConfig.cs); absent otherwise.</summary>
    public AvatarFinetuneConfig? Avatar { get; set; }
    /// <summary>The apt-omniavatar kind's teacher weights, dtype and latent-cache data (<see cref="AvatarAptConfig"/>).</summary>
    public AvatarAptConfig? Omniavatar { get; set; }
    /// <summary>experiment: omnihuman and apt-omnihuman, and `aptlab human` (<see cref="HumanConfig"/>); absent otherwise.</summary>
    public HumanConfig? Human { get; set; }
    /// <summary>Standard metrics (FID, FVD) for the comparison, with the public weights (docs/evaluation.md); absent: the
    /// built-in features only.</summary>
    public AptLab.Evaluation.Standard.EvaluationConfig? Evaluation { get; set; }

    public void Validate(string key, string? file)
    {
        string[] kinds = ExperimentKinds.Names;
        if (!kinds.Contains(Experiment)) throw ConfigException.For(file, "experiment", $"'{Experiment}' is not one of {string.Join(", ", kinds)}");
        if (string.IsNullOrWhiteSpace(Name)) throw ConfigException.For(file, "name", "must not be empty");
        try { AptLab.Torch.Device.Parse(Device); }
        catch (ArgumentException e) { throw ConfigException.For(file, "device", e.Message); }
        if (Threads < 0) throw ConfigException.For(file, "threads", "must be >= 0");
        try { PrecisionPolicy.Parse(Precision); }
        catch (ArgumentException) { throw ConfigException.For(file, "precision", $"'{Precision}' is not fp32, bf16-mixed or bf16"); }
        try { ParallelModes.Parse(Parallel); }
        catch (ArgumentException) { throw ConfigException.For(file, "parallel", $"'{Parallel}' is not ddp or fsdp"); }
        if (MaxNonfiniteSkips < 0) throw ConfigException.For(file, "max_nonfinite_skips", "must be >= 0");
        if (Experiment == "omniavatar-finetune" && Avatar is null) throw ConfigException.For(file, "avatar", "experiment omniavatar-finetune needs an avatar: section");
        if (Experiment == "apt" && Wan is not null)
            throw ConfigException.For(file, "wan", "experiment apt runs the study's own foundation and CD student; APT on a released Wan checkpoint is experiment: apt-wan");
        if (Experiment == "apt-wan")
        {
            if (Wan is null) throw ConfigException.For(file, "wan", "experiment apt-wan needs this section (the Wan checkpoint and the latent-cache data)");
            if (string.IsNullOrWhiteSpace(Apt.Student) && !Wan.RandomWeights) Wan.ValidateNegative("wan", file);
        }
        if (Experiment is "omnihuman" or "apt-omnihuman" && Human is null)
            throw ConfigException.For(file, "human", $"experiment {Experiment} needs a human: section");
        if (Experiment == "apt-omnihuman" && Human!.Study is null && !Human.Model.RandomWeights && string.IsNullOrWhiteSpace(Human.From) && string.IsNullOrWhiteSpace(Human.Model.Weights))
            throw ConfigException.For(file, "human.from", "apt-omnihuman needs its teacher: human.from (an omnihuman run), human.model.weights, or random_weights");
        if (Experiment == "apt-omniavatar")
        {
            if (Omniavatar is null) throw ConfigException.For(file, "omniavatar", "experiment apt-omniavatar needs this section (teacher weights and data)");
            Omniavatar.ValidateHeadLayers(Apt.HeadLayers, file);
        }
    }
}

/// <summary>The built-in synthetic data (Data/Synthetic/MovingShapes).</summary>
public sealed class DataConfig : IValidatable
{
    public int Size { get; set; } = 32;
    /// <summary>Frames of a video clip: 1 + 4k (the VAE's temporal compression).</summary>
    public int VideoFrames { get; set; } = 5;
    public int TrainImages { get; set; } = 2048;
    public int TrainVideos { get; set; } = 1024;
    public int HeldoutSamples { get; set; } = 256;

    public void Validate(string key, string? file)
    {
        if (Size % 16 != 0) throw ConfigException.For(file, key + ".size", $"{Size} must be a multiple of 16 (the VAE downsamples up to 8x, the DiT patches 2x2)");
        if (VideoFrames < 1 || (VideoFrames - 1) % 4 != 0) throw ConfigException.For(file, key + ".video_frames", $"{VideoFrames} is not 1 + 4k");
        if (TrainImages < 1 || TrainVideos < 0 || HeldoutSamples < 2) throw ConfigException.For(file, key, "sample counts must be positive (held-out >= 2)");
    }
}

public sealed class VaeStageConfig : IValidatable
{
    public int Dim { get; set; } = 8;
    public int ZDim { get; set; } = 16;
    public List<int> DimMult { get; set; } = [1, 2, 2, 2];
    /// <summary>Which of the len(dim_mult) - 1 downsampling stages also halve time (Wan: [false, true, true]);
    /// exactly two must, for the 4x temporal compression the clips' 1 + 4k frames assume.</summary>
    public List<bool> TemporalDownsample { get; set; } = [false, true, true];
    public int NumResBlocks { get; set; } = 1;
    public int Steps { get; set; } = 200;
    public int Batch { get; set; } = 16;
    public double Lr { get; set; } = 2e-3;
    public double KlWeight { get; set; } = 1e-4;
    /// <summary>constant, or cosine: the lr decays to 0 over the steps, so the weights kept are not those of one noisy
    /// late step (the talking-face VAE's mouth detail depends on it).</summary>
    public string LrSchedule { get; set; } = "constant";
    /// <summary>Weight of the motion term on clip batches: the MSE of consecutive-frame differences, Δx̂ against Δx
    /// (0: off). What moves in a clip is a small part of its pixels; this term gives it the weight a plain MSE does not.</summary>
    public double TemporalWeight { get; set; }

    public void Validate(string key, string? file)
    {
        if (!double.IsFinite(TemporalWeight) || TemporalWeight < 0)
            throw ConfigException.For(file, key + ".temporal_weight", $"must be a finite number >= 0, got {ConfigException.Show(TemporalWeight)}");
        if (LrSchedule is not ("constant" or "cosine")) throw ConfigException.For(file, key + ".lr_schedule", $"must be constant or cosine, got '{LrSchedule}'");
        if (DimMult.Count is < 3 or > 4 || DimMult.Count != TemporalDownsample.Count + 1)
            throw ConfigException.For(file, key + ".dim_mult", $"needs 3 or 4 levels (4x or 8x spatial compression) and one more entry than temporal_downsample ({TemporalDownsample.Count})");
        if (TemporalDownsample.Count(b => b) != 2)
            throw ConfigException.For(file, key + ".temporal_downsample", "exactly two stages must downsample time (4x temporal compression)");
        if (Steps < 0 || Batch < 1) throw ConfigException.For(file, key, "steps >= 0 and batch >= 1 required");
        ConfigException.RequirePositive(Lr, file, key + ".lr");
        if (!double.IsFinite(KlWeight) || KlWeight < 0) throw ConfigException.For(file, key + ".kl_weight", $"must be a finite number >= 0, got {ConfigException.Show(KlWeight)}");
    }
}

public sealed class TextStageConfig : IValidatable
{
    public string Tokenizer { get; set; } = "configs/demo/spiece.model";
    public int TextLen { get; set; } = 32;
    public int Dim { get; set; } = 32;
    public int FfnDim { get; set; } = 64;
    public int NumHeads { get; set; } = 2;
    public int NumLayers { get; set; } = 2;

    public void Validate(string key, string? file)
    {
        if (Dim % NumHeads != 0) throw ConfigException.For(file, key + ".dim", $"{Dim} is not divisible by num_heads {NumHeads}");
        if (TextLen < 2) throw ConfigException.For(file, key + ".text_len", "must be >= 2");
    }
}

public sealed class TeacherStageConfig : IValidatable
{
    public int Dim { get; set; } = 64;
    public int FfnDim { get; set; } = 128;
    public int NumHeads { get; set; } = 2;
    public int NumLayers { get; set; } = 4;
    public int Steps { get; set; } = 1500;
    public int Batch { get; set; } = 32;
    public double Lr { get; set; } = 1e-3;
    /// <summary>Probability of training on <see cref="DropoutPrompt"/> instead of the caption (what classifier-free
    /// guidance needs).</summary>
    public double CaptionDropout { get; set; } = 0.1;
    /// <summary>The caption a dropped one is replaced with (the unconditional prompt the teacher learns; sample with
    /// the same <c>sampling.negative_prompt</c>).</summary>
    public string DropoutPrompt { get; set; } = "";
    /// <summary>Shift of the training noise levels sigma = shift(u, s).</summary>
    public double Shift { get; set; } = 3;

    public void Validate(string key, string? file)
    {
        if (Dim % NumHeads != 0 || (Dim / NumHeads) % 2 != 0) throw ConfigException.For(file, key + ".num_heads", $"must divide dim {Dim} into an even head dim");
        if (CaptionDropout < 0 || CaptionDropout >= 1) throw ConfigException.For(file, key + ".caption_dropout", "must be in [0, 1)");
        if (Steps < 0 || Batch < 1) throw ConfigException.For(file, key, "steps >= 0 and batch >= 1 required");
        ConfigException.RequirePositive(Lr, file, key + ".lr");
        ConfigException.RequirePositive(Shift, file, key + ".shift");
    }
}

/// <summary>The sampling values of a study: the teacher's schedule and guidance (the comparison's teacher methods that
/// give none, `aptlab compare`), the CFG negative prompt (teacher sampling and consistency distillation's teacher) and
/// the two-step sampling of one-step generators (docs/apt.md#two-step-inference). A foundation never sets them.</summary>
public sealed class SamplingConfig : IValidatable
{
    /// <summary>Teacher steps when a method gives none.</summary>
    public int Steps { get; set; } = 25;
    /// <summary>Shift of the teacher's Euler schedule.</summary>
    public double Shift { get; set; } = 3;
    /// <summary>CFG scale of teacher sampling.</summary>
    public double Guidance { get; set; } = 4;
    /// <summary>The CFG negative prompt (the demo's teacher learns the empty prompt as unconditional).</summary>
    public string NegativePrompt { get; set; } = "";
    /// <summary>Two-step sampling of a one-step generator: t_m = shift(0.5, s).</summary>
    public double TwoStepShift { get; set; } = 12;

    public void Validate(string key, string? file)
    {
        if (Steps < 1) throw ConfigException.For(file, key + ".steps", "must be >= 1");
        ConfigException.RequirePositive(Shift, file, key + ".shift");
        ConfigException.RequirePositive(TwoStepShift, file, key + ".two_step_shift");
        if (!double.IsFinite(Guidance)) throw ConfigException.For(file, key + ".guidance", $"must be a finite number, got {ConfigException.Show(Guidance)}");
    }
}

public sealed class DistillStageConfig : IValidatable
{
    /// <summary>distill kind: the foundation checkpoint (VAE + text encoder + teacher) of a teacher run, or its run folder.</summary>
    public string From { get; set; } = "";
    /// <summary>Folder of the teacher-target cache (docs/consistency-distillation.md#one-training-step): the teacher's guided Euler steps for (sample, noise
    /// seed, step) triples are stored there and reused by later runs; empty = no cache. With a cache the noise of a
    /// sample is one of <see cref="NoiseSeeds"/> seeded draws, so triples recur.</summary>
    public string TargetCache { get; set; } = "";
    /// <summary>Noise draws per training sample when a target cache is used.</summary>
    public int NoiseSeeds { get; set; } = 4;
    public int Steps { get; set; } = 300;
    public int Batch { get; set; } = 16;
    public double Lr { get; set; } = 1e-4;
    public double WeightDecay { get; set; } = 0.01;
    /// <summary>Discretisation steps N.</summary>
    public int N { get; set; } = 16;
    public double Shift { get; set; } = 3;
    public double Guidance { get; set; } = 4;
    /// <summary>A sample sheet of the student in TensorBoard every this many steps (docs/notebooks.md#tensorboard); 0 = none.</summary>
    public int SampleEvery { get; set; } = 100;

    [YamlDotNet.Serialization.YamlIgnore]
    public CdSettings Settings => new() { Steps = N, Shift = Shift, Guidance = Guidance };

    public void Validate(string key, string? file)
    {
        if (N < 1) throw ConfigException.For(file, key + ".n", "must be >= 1");
        if (NoiseSeeds < 1) throw ConfigException.For(file, key + ".noise_seeds", "must be >= 1");
        if (SampleEvery < 0) throw ConfigException.For(file, key + ".sample_every", "must be >= 0 (0 = no sample sheets)");
        if (Steps < 0 || Batch < 1) throw ConfigException.For(file, key, "steps >= 0 and batch >= 1 required");
        ConfigException.RequirePositive(Lr, file, key + ".lr");
        ConfigException.RequirePositive(Shift, file, key + ".shift");
        if (!double.IsFinite(WeightDecay) || WeightDecay < 0) throw ConfigException.For(file, key + ".weight_decay", $"must be a finite number >= 0, got {ConfigException.Show(WeightDecay)}");
        if (!double.IsFinite(Guidance)) throw ConfigException.For(file, key + ".guidance", $"must be a finite number, got {ConfigException.Show(Guidance)}");
    }
}

/// <summary>
/// Independent training replicates of a study (docs/demo-study.md, docs/evaluation.md#seeds-and-intervals): CD and the
/// APT phases run <see cref="Count"/> times on the same foundation, replicate k with seed + 1000 k, all scored on the
/// same held-out samples; the comparison reports mean, spread and intervals over them.
/// </summary>
public sealed class ReplicatesConfig : IValidatable
{
    /// <summary>Training replicates (1 = the run's seed alone).</summary>
    public int Count { get; set; } = 1;
    /// <summary>Each replicate distils its own CD student (false: every replicate's APT starts from replicate 0's).</summary>
    public bool Distill { get; set; } = true;
    /// <summary>Bootstrap resamples of the evaluation samples (the intervals' evaluation part).</summary>
    public int Bootstrap { get; set; } = 100;
    /// <summary>Confidence level of the intervals.</summary>
    public double Confidence { get; set; } = 0.95;

    public void Validate(string key, string? file)
    {
        if (Count < 1) throw ConfigException.For(file, key + ".count", "must be >= 1");
        if (Bootstrap < 2) throw ConfigException.For(file, key + ".bootstrap", "must be >= 2 resamples");
        if (!(Confidence > 0 && Confidence < 1)) throw ConfigException.For(file, key + ".confidence", "must be in (0, 1)");
    }
}

/// <summary>
/// The two adversarial phases, bound straight to <see cref="AptPhaseSettings"/> (keys = its properties in snake_case:
/// updates, micro_batch, accumulation, lr (or lr_generator / lr_discriminator), rms_alpha, rms_eps, ema_decay,
/// discriminator_shift, r1_lambda, r1_sigma, r1_reading (variance | std), r2_lambda, r2_sigma, checkpoint_every).
/// For the <c>apt</c> kind: <c>teacher</c> (the foundation checkpoint of a teacher run, or with a <c>wan</c> section
/// the Wan checkpoint named there) initialises the discriminator, <c>student</c> (a CD checkpoint) the generator.
/// </summary>
public sealed class AptStagesConfig : IValidatable
{
    private AptPhaseSettings image = new() { Name = "image" };
    private AptPhaseSettings video = new() { Name = "video", DiscriminatorShift = 12, R1Sigma = 0.1, Lr = 3e-6, Updates = 300 };

    /// <summary>apt kind: foundation checkpoint (or run folder) of a teacher run; unused with a <c>wan</c> section.</summary>
    public string Teacher { get; set; } = "";
    /// <summary>apt kind: the CD student checkpoint (or the distill run folder); with a <c>wan</c> section empty = the
    /// run distils it first (distill section, checkpoints/cd.safetensors).</summary>
    public string Student { get; set; } = "";
    public AptPhaseSettings Image { get => image; set => image = value with { Name = "image" }; }
    public AptPhaseSettings Video { get => video; set => video = value with { Name = "video" }; }
    /// <summary>0-indexed discriminator head blocks; empty = proportional to 16/26/36 of 36 (docs/apt.md#heads).</summary>
    public List<int> HeadLayers { get; set; } = [];
    /// <summary>The data-parallel ranks the batch settings assume (effective batch = micro_batch x accumulation x
    /// world_size); 0 accepts any launch. A launch with another number of ranks is refused.</summary>
    public int WorldSize { get; set; } = 0;
    /// <summary>A sample sheet of the generator's EMA in TensorBoard every this many updates of each phase
    /// (docs/notebooks.md#tensorboard); 0 = none.</summary>
    public int SampleEvery { get; set; } = 25;

    public int EffectiveBatch(AptPhaseSettings phase) => phase.MicroBatch * phase.Accumulation * Math.Max(1, WorldSize);

    public void Validate(string key, string? file)
    {
        foreach (var (name, phase) in new[] { ("image", Image), ("video", Video) })
        {
            try { phase.Validate(); }
            catch (ArgumentException e) { throw ConfigException.For(file, $"{key}.{name}", e.Message); }
        }
        if (HeadLayers.Any(l => l < 0)) throw ConfigException.For(file, key + ".head_layers", "block indices are 0-based and must be >= 0");
        if (WorldSize < 0) throw ConfigException.For(file, key + ".world_size", "must be >= 0 (0 = any)");
        if (SampleEvery < 0) throw ConfigException.For(file, key + ".sample_every", "must be >= 0 (0 = no sample sheets)");
    }
}
