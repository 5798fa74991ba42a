using AptLab.Config;
using AptLab.Avatar.Audio;
using AptLab.Experiments.Human;
using AptLab.Apt;
using AptLab.Human;
using AptLab.Human.Apt;
using AptLab.Human.Audio;
using AptLab.Human.Training;
using AptLab.Torch.nn;
using AptLab.Training;
using AptLab.Wan;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// The OmniHuman kind of <c>aptlab plan</c> (docs/omnihuman.md#memory-plan), <c>experiment: omnihuman</c>: the three-stage
/// fine-tune of experiments/Human/HumanExperiment.cs over <see cref="FineTuning"/>, with the formulas of the Wan plan
/// (MemoryPlan.cs):
/// <list type="bullet">
/// <item>the DiT the run builds: <see cref="OmniHumanModel"/> of <c>human.model.preset</c> (or the custom dims) for the
/// encoders' widths (umT5-XXL 4096 and wav2vec2-base 13 x 768, or the tiny random ones), on the meta device, with LoRA
/// injected into Wan's linears under <c>train.mode: lora</c>; the trained tensors (<see cref="HumanTrainableParameters"/>:
/// LoRA, the added parts, the patch embedding; or all under <c>full</c>) carry masters, gradients and AdamW's two states,
/// a frozen base stays in the model dtype. Under fsdp the units are the DiT blocks: the audio cross-attentions
/// (<c>audio_cross_attn.{i}</c>, beside the blocks) belong to the root unit and are gathered for the whole step;</item>
/// <item>one phase per stage with steps: the conditions a stage can draw (ratio &gt; 0) decide its tokens and inputs:
/// the video's F·h·w tokens plus the reference's h·w and the motion frames' M·h·w in every block's self-attention
/// (a batch carries them when any sample has them on), the audio cross-attention on the video tokens
/// (<see cref="AudioCrossAttentionBytesPerToken"/> per block), and in a pose stage the float32 heatmaps on the device
/// and the pose guider's activations at pixel resolution (<see cref="PoseBytes"/>);</item>
/// <item>host: the encoders the run keeps for its whole length (Wan VAE and wav2vec2 in float32, umT5 in the model
/// dtype), and under fsdp the whole DiT the shards are cut from.</item>
/// </list>
/// <c>experiment: apt-omnihuman</c> (experiments/Human/HumanAptExperiment.cs) is planned with the APT phases of the
/// Wan plan (CD, image phase, video phase) over the OmniHuman DiT: G a copy of the teacher, D another with read-out
/// heads after <c>apt.head_layers</c>, both on the meta device; the architecture is <c>human.model</c>'s (the run reads
/// the teacher file's: keep them equal), the clips <c>human.data</c>'s (the run reads the teacher run's data); the
/// conditions <c>human.apt_conditions</c> can turn on add their tokens, audio cross-attention and pose inputs as in a
/// stage, the pose guider once per graph with gradients (D's in each D graph of the D step, G's in the G step); the
/// encoders are held on the host when the teacher is a trained one (<c>human.from</c>, <c>human.model.weights</c>).
/// </summary>
public sealed partial class MemoryPlan
{
    /// <summary>The OmniHuman architecture the run builds from <paramref name="m"/>: its encoders' widths are those of
    /// umT5-XXL and wav2vec2-base-960h (the released files), or of the tiny random encoders under random_weights.</summary>
    public static OmniHumanConfig HumanArchitecture(HumanModelConfig m) => m.Architecture(
        (m.RandomWeights ? T5EncoderConfig.Tiny : T5EncoderConfig.UmT5Xxl).Dim, m.TextLen,
        HumanAudioEncoder.FeatureWidth(m.RandomWeights ? Wav2Vec2Config.Tiny : Wav2Vec2Config.Base960h));

    /// <summary>Bytes per video token the audio cross-attention of one block keeps for its backward: 3 float32 and 4
    /// compute-dtype [tokens, dim] tensors (by the code: the query projection's cast input and output, norm_q's float32
    /// input and output, the attention's query and output; the allocator shows one float32 tensor more, 1.30-1.33 x the
    /// 2 + 4 count, MemoryPlanHumanTests); the 20 audio tokens per latent frame are negligible beside a frame's h·w.</summary>
    public static long AudioCrossAttentionBytesPerToken(WanConfig c, int computeBytes = 2) => 3L * 4 * c.Dim + 4L * computeBytes * c.Dim;

    /// <summary>A pose stage's device bytes outside the DiT: the float32 heatmaps and what the trained pose guider keeps
    /// (<see cref="PoseHeatmapBytes"/> + <see cref="PoseGuiderBytes"/>).</summary>
    public static long PoseBytes(OmniHumanConfig a, long b, long frames, long height, long width, int computeBytes) =>
        PoseHeatmapBytes(a, b, frames, height, width) + PoseGuiderBytes(a, b, frames, height, width, computeBytes);

    /// <summary>The float32 heatmaps [b, 26, frames, H, W] on the device.</summary>
    public static long PoseHeatmapBytes(OmniHumanConfig a, long b, long frames, long height, long width) =>
        b * a.PoseHeatmapChannels * frames * height * width * 4;

    /// <summary>What one graph of the pose guider keeps for its backward (compute dtype): its first conv's input (frame 0
    /// repeated VaeTemporal - 1 times in front), and each strided conv's output and its SiLU's.</summary>
    public static long PoseGuiderBytes(OmniHumanConfig a, long b, long frames, long height, long width, int computeBytes)
    {
        long t = frames + a.VaeTemporal - 1, y = height, x = width;
        long saved = b * a.PoseHeatmapChannels * t * y * x;
        int steps = a.PoseGuiderWidths.Length, spatial = System.Numerics.BitOperations.Log2((uint)a.VaeSpatial),
            temporal = System.Numerics.BitOperations.Log2((uint)a.VaeTemporal);
        for (int i = 0; i < steps; i++)
        {
            long ts = i >= steps - temporal ? 2 : 1, ss = i < spatial ? 2 : 1;           // kernel 3, padding 1
            (t, y, x) = ((t - 1) / ts + 1, (y - 1) / ss + 1, (x - 1) / ss + 1);
            saved += 2 * b * a.PoseGuiderWidths[i] * t * y * x;
        }
        return saved * computeBytes;
    }

    /// <summary>What a batch of an OmniHuman DiT can carry beside the video latents: the conditions with ratio &gt; 0
    /// (a batch carries a condition's tokens or inputs when any of its samples has it on).</summary>
    private sealed record HumanInputs(bool Reference, bool Motion, bool Audio, bool Pose)
    {
        public static HumanInputs Of(HumanStageConfig s) => new(s.Reference > 0, s.Motion > 0, s.Audio > 0, s.Pose > 0);
    }

    /// <summary>[16, F, H/s, W/s]: the latents of <c>human.data</c>'s segment (video) or of its first frame.</summary>
    private static long[] HumanLatents(HumanConfig h, OmniHumanConfig arch, bool video)
    {
        var d = h.Data;
        int s = h.Model.VaeSpatialFactor;
        return [arch.LatentChannels, video ? (d.Frames - 1) / arch.VaeTemporal + 1 : 1, d.Height / s, d.Width / s];
    }

    /// <summary>One sample through the DiT's blocks: the tokens of every block's self-attention (the video's F·h·w, and
    /// under OmniHuman the reference's h·w and the motion frames' M·h·w when on), those the audio cross-attention
    /// reads (the video's, when audio is on) and their description.</summary>
    private (long Tokens, long Audio, string Text) DitInput(bool video, HumanInputs? x)
    {
        long v = Tokens(video);
        if (x is null) return (v, 0, $"{v} tokens");
        var s = latentShape(video);                                                // [16, F, H, W]
        long perFrame = s[2] / net.PatchSize.H * (s[3] / net.PatchSize.W);
        long all = v + ((x.Reference ? 1 : 0) + (x.Motion ? HumanArchitecture(Config.Human!.Model).MotionLatentFrames : 0)) * perFrame;
        return (all, x.Audio ? v : 0,
            $"{all} tokens ({v} video{(all > v ? $" + {all - v} reference/motion" : "")}{(x.Audio ? ", audio cross-attention" : "")})");
    }

    /// <summary>The pose inputs of a step with <paramref name="graphs"/> pose-guider graphs alive (those of the networks
    /// trained in it), when pose is on: the heatmaps once, each graph's saved tensors.</summary>
    private Line? PoseLine(long b, bool video, int graphs, HumanInputs? x)
    {
        if (x is not { Pose: true }) return null;
        var d = Config.Human!.Data;
        var a = HumanArchitecture(Config.Human.Model);
        long frames = video ? d.Frames : 1;
        long bytes = PoseHeatmapBytes(a, b, frames, d.Height, d.Width) + graphs * PoseGuiderBytes(a, b, frames, d.Height, d.Width, (int)ComputeBytes);
        return Same($"activations: pose heatmaps (float32) and {(graphs > 1 ? $"{graphs} graphs of the " : "")}pose guider on {b} clip(s) of {frames} x {d.Height}x{d.Width}", bytes);
    }

    private static (WanConfig, ScalarType, Counts, Func<bool, long[]>, bool, string, string) HumanSetup(ExperimentConfig cfg, Counts? counted)
    {
        var h = cfg.Human ?? throw new ArgumentException("aptlab plan: experiment omnihuman needs its human section");
        var arch = HumanArchitecture(h.Model);
        long[] Shape(bool _) => HumanLatents(h, arch, video: true);
        var counts = counted ?? CountHuman(h, arch);
        var c = arch.Wan;
        bool fsdp = cfg.ParallelMode == ParallelMode.Fsdp;
        string name = h.Model.Preset == "custom" ? $"custom{(h.Model.RandomWeights ? " (random_weights)" : "")}" : h.Model.Preset;
        string mode = h.Train.Mode == "lora" ? $"LoRA rank {h.Model.LoraRank} + added parts" : "full fine-tune";
        string title = $"OmniHuman {name} (dim {c.Dim}, {c.NumLayers} blocks, {mode})";
        string host = $"Wan VAE, umT5 and wav2vec2 held for the run: {Gb(counts.EncoderHostBytes)}" +
                      (fsdp ? $"; the whole DiT in {h.Model.Dtype} the shards are cut from" : "");
        return (c, h.Model.ModelDtype, counts, Shape, h.Model.GradientCheckpointing || fsdp, title, host);
    }

    private static Counts CountHuman(HumanConfig h, OmniHumanConfig arch)
    {
        var m = h.Model;
        Network dit, trained;
        using (var model = new OmniHumanModel(arch, m.ModelDtype, Device.Meta))
        {
            if (h.Train.Mode == "lora")
                Lora.Inject(model.wan, new LoraConfig(m.LoraRank, m.LoraAlpha, LoraConfig.ParseTargets(m.LoraTargetModules)));
            dit = Count("DiT", model);
            trained = Count("trained", model, n => HumanTrainableParameters.IsTrainable(n, h.Train.Mode));
        }
        var (text, host) = HumanEncoderBytes(h);
        return new Counts(dit, null, 0, text, trained, host);
    }

    /// <summary>The encoders as HumanModels.Encoders holds them on the host: umT5's parameters and the bytes of all three
    /// (umT5 in the model dtype, tiny: float32; the Wan VAE and wav2vec2 in float32).</summary>
    private static (long TextParameters, long HostBytes) HumanEncoderBytes(HumanConfig h)
    {
        var m = h.Model;
        long text;
        using (var t5 = new T5Encoder(m.RandomWeights ? T5EncoderConfig.Tiny : T5EncoderConfig.UmT5Xxl,
                   m.RandomWeights ? ScalarType.Float32 : m.ModelDtype, Device.Meta))
            text = t5.parameters().Sum(p => p.numel());
        long textBytes = text * (m.RandomWeights ? 4 : Bytes(m.ModelDtype));
        var v = h.Study?.Vae;
        var vaeConfig = !m.RandomWeights ? WanVaeConfig.Wan21 : v is null ? WanVaeConfig.Tiny
            : new WanVaeConfig { Dim = v.Dim, ZDim = v.ZDim, DimMult = v.DimMult.ToArray(), NumResBlocks = v.NumResBlocks, TemporalDownsample = v.TemporalDownsample.ToArray() };
        long vae, audio;
        using (var e = new WanVAE(vaeConfig)) vae = e.parameters().Sum(p => p.numel());                  // no meta constructor: built on the host
        using (var w = new Wav2Vec2Model(m.RandomWeights ? Wav2Vec2Config.Tiny : Wav2Vec2Config.Base960h)) audio = w.parameters().Sum(p => p.numel());
        return (text, textBytes + 4 * (vae + audio));
    }

    private void HumanPhases()
    {
        var stages = Config.Human!.Train.Stages;
        for (int i = 0; i < stages.Count; i++)
            if (stages[i].Steps > 0) Phases.Add(HumanStage(i + 1, stages[i]));
    }

    // one stage: AdamW on the trained tensors, the frozen base, the pose inputs, one DiT graph with gradients over the
    // video, reference and motion tokens and the audio cross-attention on the video tokens
    private Phase HumanStage(int k, HumanStageConfig s)
    {
        var h = Config.Human!;
        var t = Trainable!;
        var frozen = new Network("frozen base", Generator.Root - t.Root, Generator.Block - t.Block, Generator.Blocks);
        bool fsdp = Parallel == ParallelMode.Fsdp;
        long b = h.Train.MicroBatch;
        var x = HumanInputs.Of(s);
        var input = DitInput(video: true, x);
        var lines = Trained([t with { Name = "trained" }], 2, "AdamW").ToList();
        if (frozen.Total > 0)
            lines.Add(fsdp
                ? Same($"frozen base (1/{Gpus} + its root and one block gathered, compute dtype)", (Share(frozen.Total) + frozen.Root + frozen.Block) * ComputeBytes)
                : Same($"frozen base (whole, {DtypeName(dtype)})", frozen.Total * Bytes(dtype)));
        if (PoseLine(b, video: true, 1, x) is { } pose) lines.Add(pose);
        lines.Add(Activations($"activations: DiT on {b} clip(s) x {input.Text}", b, input.Tokens, Generator.Blocks, input.Audio));
        var on = new[] { ("text", s.Text), ("reference", s.Reference), ("audio", s.Audio), ("pose", s.Pose), ("motion", s.Motion) }
            .Where(p => p.Item2 > 0).Select(p => p.Item1);
        return new Phase($"stage {k}", $"clips {Latents(video: true)} ({h.Data.Frames} frames of {h.Data.Height}x{h.Data.Width}); " +
                                       $"{string.Join(" + ", on)}; micro-batch {b} per GPU", lines);
    }

    // ---- apt-omnihuman: the one-step student (experiments/Human/HumanAptExperiment.cs) ----

    /// <summary>When <c>human.from</c> names a finished omnihuman run on this machine (<c>latest</c> resolved as the run
    /// does), plans the teacher that run trained: its recorded <c>human.model</c> (with this config's dtype and
    /// checkpointing, which the run applies to the loaded teacher) and <c>human.data</c> replace this config's. Without
    /// such a run (a cluster recipe planned before its teacher exists) the config's own preset and data stand.
    /// Returns the recorded config.yaml used, or null.</summary>
    public static string? AdoptTeacherRun(ExperimentConfig cfg)
    {
        if (cfg.Experiment != "apt-omnihuman" || cfg.Human is not { From.Length: > 0 } h) return null;
        string dir;
        try { dir = ExperimentKinds.ResolveLatest(h.From, "human.from", Path.GetFileNameWithoutExtension(HumanModels.DitFile)); }
        catch (IOException) { return null; }                                  // no such run here
        var recorded = Path.Combine(dir, "config.yaml");
        if (!File.Exists(recorded)) return null;
        var fh = ConfigLoader.Load<ExperimentConfig>(recorded).Human
            ?? throw new InvalidDataException($"{recorded}: not an omnihuman run (no human: section)");
        fh.Model.Dtype = h.Model.Dtype;
        fh.Model.GradientCheckpointing = h.Model.GradientCheckpointing;
        (h.Model, h.Data) = (fh.Model, fh.Data);
        return recorded;
    }

    private static (WanConfig, ScalarType, Counts, Func<bool, long[]>, bool, string, string) HumanAptSetup(ExperimentConfig cfg, Counts? counted)
    {
        var h = cfg.Human ?? throw new ArgumentException("aptlab plan: experiment apt-omnihuman needs its human section");
        bool trained = h.From.Length > 0 || h.Model.Weights.Length > 0;          // else a tiny random teacher
        if (trained && string.IsNullOrWhiteSpace(h.Model.Preset))
            throw new ArgumentException("aptlab plan: apt-omnihuman needs human.model.preset (wan2.1-1.3b, wan2.1-14b, or custom with its dims): " +
                                        "the run reads the teacher's architecture from human.from / human.model.weights, which the plan does not open");
        var arch = trained ? HumanArchitecture(h.Model) : HumanAptExperiment.RandomTeacher(h.Model);
        var counts = counted ?? CountHumanApt(h, arch, cfg.Apt.HeadLayers, encoders: trained);
        var c = arch.Wan;
        bool fsdp = cfg.ParallelMode == ParallelMode.Fsdp;
        string teacher = h.From.Length > 0 ? $"teacher {h.From}, planned as" : trained ? "teacher human.model.weights, planned as" : "tiny random teacher,";
        string title = $"APT OmniHuman, {teacher} {h.Model.Preset} (dim {c.Dim}, {c.NumLayers} blocks)";
        string host = (trained ? $"Wan VAE, umT5 and wav2vec2 held for the run: {Gb(counts.EncoderHostBytes)}; " : "") +
                      (fsdp ? $"whole teacher, G and D templates in {h.Model.Dtype}; the shards are cut from them" : "");
        return (c, h.Model.ModelDtype, counts, video => HumanLatents(h, arch, video), h.Model.GradientCheckpointing || fsdp, title, host.TrimEnd(' ', ';'));
    }

    // G: a LoRA-free copy of the teacher (OmniHumanFlowModel.Copy); D: another with read-out heads after apt.head_layers
    // (AptStage.Phase); the encoders when the run holds them (a teacher from human.from or human.model.weights)
    private static Counts CountHumanApt(HumanConfig h, OmniHumanConfig arch, IReadOnlyList<int> headLayers, bool encoders)
    {
        var layers = headLayers.Count > 0 ? headLayers.ToArray() : null;
        Network g, d;
        int run;
        using (var m = new OmniHumanFlowModel(new OmniHumanModel(arch, h.Model.ModelDtype, Device.Meta)))
            g = Count("G", m.Module);
        using (var m = new Discriminator(new OmniHumanFlowModel(new OmniHumanModel(arch, h.Model.ModelDtype, Device.Meta)), layers))
            (d, run) = (Count("D", m), m.Layers.Max() + 1);
        var (text, host) = encoders ? HumanEncoderBytes(h) : (0, 0);
        return new Counts(g, d, run, text, null, host);
    }

    // CD (its segment steps, the larger: segments on even steps, single frames on odd ones), the image phase (one latent
    // frame), the video phase, under the conditions human.apt_conditions can turn on
    private void HumanAptPhases()
    {
        var x = HumanInputs.Of(Config.Human!.AptConditions);
        if (Config.Distill.Steps > 0) Phases.Add(Cd(video: true, " on even steps (single frames on odd steps)", x));
        Phases.Add(Apt(video: false, x));
        Phases.Add(Apt(video: true, x));
    }
}
