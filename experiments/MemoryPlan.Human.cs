using AptLab.Avatar.Audio;
using AptLab.Experiments.Human;
using AptLab.Human;
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

    /// <summary>A pose stage's device bytes outside the DiT: the float32 heatmaps [b, 26, frames, H, W] and what the
    /// trained pose guider keeps (compute dtype): its first conv's input (frame 0 repeated VaeTemporal - 1 times in
    /// front), and each strided conv's output and its SiLU's.</summary>
    public static long PoseBytes(OmniHumanConfig a, long b, long frames, long height, long width, int computeBytes)
    {
        long heat = b * a.PoseHeatmapChannels * frames * height * width * 4;
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
        return heat + saved * computeBytes;
    }

    private static (WanConfig, ScalarType, Counts, Func<bool, long[]>, bool, string, string) HumanSetup(ExperimentConfig cfg, Counts? counted)
    {
        var h = cfg.Human ?? throw new ArgumentException("aptlab plan: experiment omnihuman needs its human section");
        var arch = HumanArchitecture(h.Model);
        var d = h.Data;
        int s = h.Model.VaeSpatialFactor;
        long[] Shape(bool _) => [arch.LatentChannels, (d.Frames - 1) / arch.VaeTemporal + 1, d.Height / s, d.Width / s];
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
        // the encoders as HumanModels.Encoders holds them: umT5 in the model dtype (tiny: float32), VAE and wav2vec2 float32
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
        return new Counts(dit, null, 0, text, trained, textBytes + 4 * (vae + audio));
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
        var arch = HumanArchitecture(h.Model);
        var t = Trainable!;
        var frozen = new Network("frozen base", Generator.Root - t.Root, Generator.Block - t.Block, Generator.Blocks);
        bool fsdp = Parallel == ParallelMode.Fsdp;
        long b = h.Train.MicroBatch;
        var shape = latentShape(true);
        long perFrame = shape[2] / net.PatchSize.H * (shape[3] / net.PatchSize.W);
        long video = Tokens(video: true);
        bool reference = s.Reference > 0, motion = s.Motion > 0, audio = s.Audio > 0, pose = s.Pose > 0;
        long tokens = video + ((reference ? 1 : 0) + (motion ? arch.MotionLatentFrames : 0)) * perFrame;
        var lines = Trained([t with { Name = "trained" }], 2, "AdamW").ToList();
        if (frozen.Total > 0)
            lines.Add(fsdp
                ? Same($"frozen base (1/{Gpus} + its root and one block gathered, compute dtype)", (Share(frozen.Total) + frozen.Root + frozen.Block) * ComputeBytes)
                : Same($"frozen base (whole, {DtypeName(dtype)})", frozen.Total * Bytes(dtype)));
        if (pose)
            lines.Add(Same($"activations: pose heatmaps (float32) and pose guider on {b} clip(s) of {h.Data.Frames} x {h.Data.Height}x{h.Data.Width}",
                PoseBytes(arch, b, h.Data.Frames, h.Data.Height, h.Data.Width, (int)ComputeBytes)));
        long ckpt = b * tokens * CheckpointBytesPerToken(net);
        long inner = b * tokens * BlockIntermediateBytesPerToken(net, (int)ComputeBytes)
                     + (audio ? b * video * AudioCrossAttentionBytesPerToken(net, (int)ComputeBytes) : 0);
        lines.Add(new Line($"activations: DiT on {b} clip(s) x {tokens} tokens ({video} video{(tokens > video ? $" + {tokens - video} reference/motion" : "")}" +
                           $"{(audio ? ", audio cross-attention" : "")})", Generator.Blocks * ckpt + inner, Generator.Blocks * inner));
        var on = new[] { ("text", s.Text), ("reference", s.Reference), ("audio", s.Audio), ("pose", s.Pose), ("motion", s.Motion) }
            .Where(p => p.Item2 > 0).Select(p => p.Item1);
        return new Phase($"stage {k}", $"clips {Latents(video: true)} ({h.Data.Frames} frames of {h.Data.Height}x{h.Data.Width}); " +
                                       $"{string.Join(" + ", on)}; micro-batch {b} per GPU", lines);
    }
}
