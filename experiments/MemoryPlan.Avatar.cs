using AptLab.Avatar;
using AptLab.Avatar.Apt;
using AptLab.Avatar.Training;
using AptLab.Torch.nn;
using AptLab.Wan;
using AptLab.Training;
using AptLab.Experiments.Avatar;

namespace AptLab.Experiments;

/// <summary>
/// The OmniAvatar kinds of <c>aptlab plan</c> (docs/precision-and-parallelism.md#memory-plan), with the same formulas
/// as the Wan plan (MemoryPlan.cs):
/// <list type="bullet">
/// <item><c>apt-omniavatar</c>: the teacher, the student and the discriminator built on the meta device by
/// <see cref="AvatarAptModels.Build"/> (the run's own builder: LoRA injected and merged, audio modules, 33-channel
/// patch embedding, read-out heads after <c>apt.head_layers</c>); phases CD (its clip steps, the larger; image and clip
/// steps alternate), image phase (one latent frame), video phase (<c>video_latent_frames</c>), at the frame size
/// <c>omniavatar.data.height x width</c> of the cached clips;</item>
/// <item><c>omniavatar-finetune</c>: the DiT of <c>avatar.preset</c> (or the tiny one of <c>random_weights</c>) with its
/// LoRA injected on the meta device; the trained tensors (LoRA, audio modules, patch embedding,
/// <see cref="AvatarTrainableParameters"/>) carry float32 masters, gradients and AdamW's two states, the frozen base
/// stays in the model dtype; every block runs with gradients (LoRA is in each), so the activations are those of one
/// DiT graph on the micro-batch's clips (<c>avatar.data</c>: frames, height, width). The encoders (Wan VAE, umT5,
/// wav2vec2) run on the host before training, only for clips missing from the latent cache.</item>
/// </list>
/// </summary>
public sealed partial class MemoryPlan
{
    private static (WanConfig, ScalarType, Counts, Func<bool, long[]>, bool, string, string) AvatarAptSetup(ExperimentConfig cfg, Counts? counted)
    {
        var oa = cfg.Omniavatar ?? throw new ArgumentException("aptlab plan: experiment apt-omniavatar needs its omniavatar section");
        var arch = oa.Model.Architecture;
        var d = oa.Data;
        if (d.Height <= 0 || d.Width <= 0)
            throw new ArgumentException("aptlab plan: omniavatar.data.height and width must give the frame size of the cached clips in pixels (the latents are height/8 x width/8)");
        long h = d.Height / 8, w = d.Width / 8;
        long[] Shape(bool video) => [arch.LatentChannels, video ? d.VideoLatentFrames : 1, h, w];
        var counts = counted ?? CountAvatarApt(oa, cfg.Apt.HeadLayers);
        var c = arch.Wan;
        string title = $"OmniAvatar {oa.Model.Preset} (dim {c.Dim}, {c.NumLayers} blocks, audio into blocks {arch.AudioBlocks.First}..{arch.AudioBlocks.Last})";
        string host = $"whole teacher, G and D templates in {DtypeName(oa.ModelDtype)}; the shards are cut from them";
        return (c, oa.ModelDtype, counts, Shape, oa.Model.GradientCheckpointing || cfg.ParallelMode == ParallelMode.Fsdp, title, host);
    }

    private static Counts CountAvatarApt(AvatarAptConfig oa, IReadOnlyList<int> headLayers)
    {
        using var m = AvatarAptModels.Build(oa, Device.Meta, headLayers);
        bool text = string.IsNullOrWhiteSpace(oa.Data.NegativeContext) && !oa.Model.RandomWeights;
        return new Counts(Count("G", m.Student.Module), Count("D", m.Discriminator), m.Discriminator.Layers.Max() + 1,
            text ? UmT5Parameters() : 0, null);
    }

    private static long UmT5Parameters()
    {
        using var t5 = new AptLab.Wan.Text.T5Encoder(AptLab.Wan.Text.T5EncoderConfig.UmT5Xxl, ScalarType.BFloat16, Device.Meta);
        return t5.parameters().Sum(p => p.numel());
    }

    // CD (its clip steps), image phase, video phase, as AvatarAptExperiment runs them
    private void AvatarAptPhases()
    {
        if (Config.Distill.Steps > 0) Phases.Add(Cd(video: true, " on even steps (single frames on odd steps)"));
        Phases.Add(Apt(video: false));
        Phases.Add(Apt(video: true));
    }

    private static (WanConfig, ScalarType, Counts, Func<bool, long[]>, bool, string, string) AvatarFinetuneSetup(ExperimentConfig cfg, Counts? counted)
    {
        var a = cfg.Avatar ?? throw new ArgumentException("aptlab plan: experiment omniavatar-finetune needs its avatar section");
        var arch = a.Architecture()
            ?? throw new ArgumentException("aptlab plan: avatar.preset must name the architecture (omniavatar-1.3b or omniavatar-14b; the run reads it from dit_path)");
        var d = a.Data;
        long[] Shape(bool _) => [arch.LatentChannels, d.LatentFrames(), d.Height / 8, d.Width / 8];
        var counts = counted ?? CountAvatarFinetune(a, arch);
        var c = arch.Wan;
        string name = a.RandomWeights ? "tiny (random_weights)" : a.Preset;
        string title = $"OmniAvatar fine-tune, {name} (dim {c.Dim}, {c.NumLayers} blocks, LoRA rank {a.LoraRank})";
        string host = $"the whole DiT in {a.Dtype}; the shards are cut from it";
        return (c, a.ModelDtype(), counts, Shape, a.GradientCheckpointing || cfg.ParallelMode == ParallelMode.Fsdp, title, host);
    }

    private static Counts CountAvatarFinetune(AvatarFinetuneConfig a, OmniAvatarConfig arch)
    {
        using var dit = new OmniAvatarModel(arch, a.ModelDtype(), Device.Meta);
        Lora.Inject(dit, new LoraConfig(a.LoraRank, a.LoraAlpha, LoraConfig.ParseTargets(a.LoraTargetModules)));
        return new Counts(Count("DiT", dit), null, 0, a.RandomWeights ? 0 : UmT5Parameters(),
            Count("trained", dit, AvatarTrainableParameters.IsTrainable));
    }

    // the fine-tune's one phase: AdamW on the trained tensors, the frozen base, one DiT graph with gradients
    private Phase Finetune()
    {
        var a = Config.Avatar!;
        var t = Trainable!;
        var frozen = new Network("frozen base", Generator.Root - t.Root, Generator.Block - t.Block, Generator.Blocks);
        bool fsdp = Parallel == ParallelMode.Fsdp;
        long b = a.MicroBatch, tokens = Tokens(video: true);
        var lines = Trained([t with { Name = "trained" }], 2, "AdamW").ToList();
        lines.Add(fsdp
            ? Same($"frozen base (1/{Gpus} + its root and one block gathered, compute dtype)", (Share(frozen.Total) + frozen.Root + frozen.Block) * ComputeBytes)
            : Same($"frozen base (whole, {DtypeName(dtype)})", frozen.Total * Bytes(dtype)));
        lines.Add(Activations($"activations: DiT on {b} clip(s) x {tokens} tokens", b, tokens, Generator.Blocks));
        return new Phase("fine-tune", $"clips {Latents(video: true)} ({a.Data.Frames} frames of {a.Data.Height}x{a.Data.Width}), micro-batch {b} per GPU", lines);
    }
}
