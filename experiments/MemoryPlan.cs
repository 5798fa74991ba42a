using AptLab.Apt;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// The per-GPU memory of a training run (`aptlab plan`; docs/precision-and-parallelism.md#memory-plan) of the kinds in
/// <see cref="Kinds"/>: the config's networks are built on the meta device (nothing allocated) exactly as the run builds
/// them and their parameters counted per unit (root, blocks); the bytes a rank holds in each phase (CD, image phase,
/// video phase; the OmniAvatar fine-tune's one phase, MemoryPlan.Avatar.cs) follow from the run's precision, parallel
/// mode and world size the way the trainers keep them:
/// <list type="bullet">
/// <item>masters (float32 under fp32 and bf16-mixed, bf16 under bf16), their gradients, the optimizer states (AdamW 2,
/// RMSprop 1 per element) and the EMA of G: whole under ddp, 1/N under fsdp;</item>
/// <item>compute copies: under ddp and bf16-mixed a whole bf16 copy; under fsdp the root units of the networks in use
/// plus one block gathered with its bf16 gradient and its float32 flat gradient for the reduce-scatter;</item>
/// <item>the frozen CD teacher in the compute dtype (1/N under fsdp); the umT5 text encoder encodes the negative prompt
/// once on the host (not on the GPU); under ddp the APT phases also keep the whole models the run holds outside the
/// trainer on the GPU (the teacher, the CD student, in the video phase the image phase's EMA generator);</item>
/// <item>activations of the micro-batch at the phase's resolution: with checkpointing each block keeps its float32
/// input (the residual stream is a float32 island, docs/wan-dit.md#precision) and one block at a time is recomputed
/// with all its intermediates; without, every block keeps them all. The D step keeps the graphs of D on the real, the
/// fake and (R1) the perturbed real batch; the G step those of G and of D on the fake batch. Attention is assumed to
/// be a fused kernel (CUDA, libtorch >= 2.1): it keeps O(tokens) state, not the [heads, L, L] scores.</item>
/// </list>
/// The block intermediates per token are <see cref="BlockIntermediateBytesPerToken"/>, the checkpointed input
/// <see cref="CheckpointBytesPerToken"/>; both are checked against the shim's allocator on a real block
/// (MemoryPlanTests).
/// </summary>
public sealed partial class MemoryPlan
{
    /// <summary>The experiment kinds the planner covers.</summary>
    public static readonly string[] Kinds = ["apt-wan", "apt-omniavatar", "omniavatar-finetune", "omnihuman", "apt-omnihuman"];

    /// <summary>A network's size: the root unit (embeddings, head, read-out) and equal blocks.</summary>
    public sealed record Network(string Name, long Root, long Block, int Blocks)
    {
        public long Total => Root + Block * Blocks;
    }

    /// <summary>One line of a phase: what, bytes per GPU (ckpt: with activation checkpointing; full: without).</summary>
    public sealed record Line(string Item, long Bytes, long BytesWithoutCheckpointing);

    public sealed record Phase(string Name, string Shape, List<Line> Lines)
    {
        public long Total => Lines.Sum(l => l.Bytes);
        public long TotalWithoutCheckpointing => Lines.Sum(l => l.BytesWithoutCheckpointing);
    }

    // What the meta-device build counted; a plan at another world size reuses it.
    // EncoderHostBytes: encoders a run keeps whole on the host while it trains (omnihuman, apt-omnihuman with a trained
    // teacher: Wan VAE, umT5, wav2vec2).
    private sealed record Counts(Network Generator, Network? Discriminator, int DBlocksRun, long TextEncoder, Network? Trainable, long EncoderHostBytes = 0);

    public ExperimentConfig Config { get; }
    public int Gpus { get; }
    public Precision Precision { get; }
    public ParallelMode Parallel { get; }
    /// <summary>The APT generator (G), or the fine-tuned DiT as a whole.</summary>
    public Network Generator => counts.Generator;
    /// <summary>The APT discriminator (null for a fine-tune).</summary>
    public Network? Discriminator => counts.Discriminator;
    /// <summary>The fine-tune's trained tensors (LoRA, audio modules, patch embedding; null for APT): a part of
    /// <see cref="Generator"/>, per unit.</summary>
    public Network? Trainable => counts.Trainable;
    public long TextEncoderParameters => counts.TextEncoder;
    /// <summary>Blocks D runs (up to its last head layer).</summary>
    public int DBlocksRun => counts.DBlocksRun;
    /// <summary>Whether the run checkpoints activations per block (the config's setting; always under fsdp). The fit is
    /// judged on the totals of the run's setting.</summary>
    public bool Checkpointing { get; }
    public List<Phase> Phases { get; } = new();
    /// <summary>Settings the run itself would refuse at this world size (e.g. a CD batch that does not split).</summary>
    public List<string> Problems { get; } = new();
    /// <summary>Host memory per rank: the whole teacher in its release dtype (kept on the host under fsdp, on the GPU
    /// under ddp: then 0 here) and the whole G and D templates the shards are cut from.</summary>
    public long HostBytes { get; }

    private readonly Counts counts;
    private readonly WanConfig net;                 // the DiT whose blocks the activation figures are of
    private readonly ScalarType dtype;              // the networks' release dtype
    private readonly Func<bool, long[]> latentShape;   // [16, F, h, w] of the image (false) and video (true) samples
    private readonly string title, sizes, hostNote;

    /// <summary>float32 bytes per token of a block's checkpointed input: the residual stream [B, L, dim].</summary>
    public static long CheckpointBytesPerToken(WanConfig c) => 4L * c.Dim;

    /// <summary>Bytes per token a block keeps for its backward when it runs with gradients (bf16 linears, float32
    /// islands): 17 float32 [L, dim] tensors (norm and modulation outputs, q/k RMSNorm, RoPE in and out, the residual
    /// sums), 17 bf16 [L, dim] tensors (the linears' cast inputs and outputs, attention in and out) and the FFN's two
    /// bf16 [L, ffn_dim] tensors (its hidden layer before and after GELU).</summary>
    public static long BlockIntermediateBytesPerToken(WanConfig c, int computeBytes = 2) =>
        17L * 4 * c.Dim + 17L * computeBytes * c.Dim + 2L * computeBytes * c.FfnDim;

    public MemoryPlan(ExperimentConfig cfg, int gpus) : this(cfg, gpus, null) { }

    private MemoryPlan(ExperimentConfig cfg, int gpus, Counts? counted)
    {
        if (!Kinds.Contains(cfg.Experiment))
            throw new ArgumentException($"aptlab plan: the config is experiment '{cfg.Experiment}'; the planner covers experiment: {string.Join(", ", Kinds)}");
        if (gpus < 1) throw new ArgumentException("aptlab plan: --gpus must be >= 1");
        (Config, Gpus, Precision, Parallel) = (cfg, gpus, cfg.TrainingPrecision, cfg.ParallelMode);
        bool fsdp = Parallel == ParallelMode.Fsdp;
        switch (cfg.Experiment)
        {
            case "apt-wan":
            {
                var wan = cfg.Wan ?? throw new ArgumentException("aptlab plan: experiment apt-wan needs its wan section");
                net = wan.Architecture() ?? throw new ArgumentException("aptlab plan: wan.preset must name the architecture (t2v-1.3b, t2v-14b or tiny)");
                dtype = wan.ModelDtype();
                counts = counted ?? CountWan(net, dtype, cfg.Apt.HeadLayers);
                latentShape = wan.LatentShape;
                Checkpointing = wan.GradientCheckpointing || fsdp;
                title = $"Wan {wan.Preset} (dim {net.Dim}, {net.NumLayers} blocks)";
                hostNote = $"whole teacher, G and D templates in {wan.Dtype}; the shards are cut from them";
                bool video = !string.IsNullOrWhiteSpace(wan.VideoData) || wan.RandomWeights;
                if (string.IsNullOrWhiteSpace(cfg.Apt.Student)) Phases.Add(Cd(video, ""));
                if (!string.IsNullOrWhiteSpace(wan.ImageData) || wan.RandomWeights) Phases.Add(Apt(video: false));
                if (video) Phases.Add(Apt(video: true));
                break;
            }
            case "apt-omniavatar":
                (net, dtype, counts, latentShape, Checkpointing, title, hostNote) = AvatarAptSetup(cfg, counted);
                AvatarAptPhases();
                break;
            case "omnihuman":
                (net, dtype, counts, latentShape, Checkpointing, title, hostNote) = HumanSetup(cfg, counted);
                HumanPhases();
                break;
            case "apt-omnihuman":
                (net, dtype, counts, latentShape, Checkpointing, title, hostNote) = HumanAptSetup(cfg, counted);
                HumanAptPhases();
                break;
            default:
                (net, dtype, counts, latentShape, Checkpointing, title, hostNote) = AvatarFinetuneSetup(cfg, counted);
                Phases.Add(Finetune());
                break;
        }
        sizes = Trainable is { } t
            ? $"DiT {Generator.Total:N0} parameters (root {Generator.Root:N0} + {Generator.Blocks} blocks x {Generator.Block:N0}): " +
              $"trained {t.Total:N0} (root {t.Root:N0} + {t.Blocks} blocks x {t.Block:N0}), frozen {Generator.Total - t.Total:N0}; " +
              (counts.EncoderHostBytes > 0
                  ? $"encoders (Wan VAE, {TextEncoder}, wav2vec2) held on the host for the whole run ({Gb(counts.EncoderHostBytes)})"
                  : $"encoders (Wan VAE, {TextEncoder}, wav2vec2) on the host before training, for clips missing from the latent cache")
            : $"G {Generator.Total:N0} parameters (root {Generator.Root:N0} + {Generator.Blocks} blocks x {Generator.Block:N0}); " +
              $"D {Discriminator!.Total:N0} (runs {DBlocksRun} blocks); " +
              (counts.EncoderHostBytes > 0
                  ? $"encoders (Wan VAE, {TextEncoder}, wav2vec2) held on the host for the whole run ({Gb(counts.EncoderHostBytes)})"
                  : $"{TextEncoder} (host, once)");
        long release = Bytes(dtype);
        HostBytes = counts.EncoderHostBytes + (!fsdp ? 0
            : Trainable is null ? (Generator.Total + Discriminator!.Total + Generator.Total) * release
            : Generator.Total * release);
    }

    private string TextEncoder => TextEncoderParameters > 0 ? $"umT5 text encoder {TextEncoderParameters:N0}" : "a tiny random umT5 or a precomputed negative";

    /// <summary>The same config at another world size (the networks are not counted again).</summary>
    public MemoryPlan WithGpus(int gpus) => new(Config, gpus, counts);

    private static Counts CountWan(WanConfig net, ScalarType dtype, IReadOnlyList<int> headLayers)
    {
        var layers = headLayers.Count > 0 ? headLayers.ToArray() : null;
        Network g, d;
        int run;
        using (var m = new WanFlowModel(new WanModel(net, dtype, Device.Meta)))
            g = Count("G", m.Module);
        using (var m = new Discriminator(new WanFlowModel(new WanModel(net, dtype, Device.Meta)), layers))
            (d, run) = (Count("D", m), m.Layers.Max() + 1);
        using var t5 = new AptLab.Wan.Text.T5Encoder(AptLab.Wan.Text.T5EncoderConfig.UmT5Xxl, ScalarType.BFloat16, Device.Meta);
        return new Counts(g, d, run, t5.parameters().Sum(p => p.numel()), null);
    }

    /// <summary>The parameters of <paramref name="m"/> whose names pass <paramref name="where"/>, per unit: the items
    /// of a <c>blocks</c> list (FSDP's block units; a discriminator's read-out is root) and the rest (the root unit).</summary>
    private static Network Count(string name, AptLab.Torch.nn.Module m, Func<string, bool>? where = null)
    {
        long total = 0, block0 = 0;
        int blocks = 0;
        foreach (var (n, p) in m.named_parameters())
        {
            int i = n.IndexOf("blocks.", StringComparison.Ordinal);
            int k = -1;
            if (i >= 0 && (i == 0 || n[i - 1] == '.') && !n.StartsWith("readout", StringComparison.Ordinal))
            {
                var rest = n[(i + 7)..];
                k = int.Parse(rest[..rest.IndexOf('.')]);
                blocks = Math.Max(blocks, k + 1);
            }
            if (where is not null && !where(n)) continue;
            total += p.numel();
            if (k == 0) block0 += p.numel();
        }
        return new Network(name, total - block0 * blocks, block0, blocks);
    }

    private static long Bytes(ScalarType t) => t switch { ScalarType.Float64 => 8, ScalarType.Float32 => 4, _ => 2 };
    private long MasterBytes => Precision == Precision.Bf16 ? 2 : 4;
    private long ComputeBytes => Precision == Precision.Fp32 ? 4 : 2;
    private long Share(long n) => Parallel == ParallelMode.Fsdp ? (n + Gpus - 1) / Gpus : n;
    private string How => Parallel == ParallelMode.Fsdp ? $"1/{Gpus}" : "whole";

    // masters, gradients, optimizer states of trained networks; compute copies / gathered units
    private IEnumerable<Line> Trained(IReadOnlyList<Network> nets, int optimizerStates, string optimizer)
    {
        long masters = nets.Sum(n => Share(n.Total)) * MasterBytes;
        var names = string.Join(" + ", nets.Select(n => n.Name));
        yield return Same($"{names} masters ({How}, {(MasterBytes == 4 ? "float32" : "bf16")})", masters);
        yield return Same($"{names} gradients ({How})", masters);
        yield return Same($"{optimizer} state ({optimizerStates} per element, {How})", masters * optimizerStates);
        if (Parallel == ParallelMode.Fsdp)
        {
            long block = nets.Max(n => n.Block);
            long gathered = nets.Sum(n => n.Root) * ComputeBytes + block * (2 * ComputeBytes + MasterBytes);
            yield return Same("gathered: root units + one block (weights, bf16 and flat gradients)", gathered);
        }
        else if (Precision == Precision.Bf16Mixed)
            yield return Same($"{names} bf16 compute copies and their gradients", nets.Sum(n => n.Total) * 2 * ComputeBytes);
    }

    private static Line Same(string item, long bytes) => new(item, bytes, bytes);

    // activations of graphs alive at once (`blocks` blocks in all), at b samples of L tokens; an OmniHuman block's audio
    // cross-attention adds its own on the sample's `audioTokens` video tokens
    private Line Activations(string item, long b, long tokens, int blocks, long audioTokens = 0)
    {
        long ckpt = b * tokens * CheckpointBytesPerToken(net);
        long inner = b * tokens * BlockIntermediateBytesPerToken(net, (int)ComputeBytes)
                     + b * audioTokens * AudioCrossAttentionBytesPerToken(net, (int)ComputeBytes);
        return new Line(item, blocks * ckpt + inner, blocks * inner);
    }

    private long Tokens(bool video)
    {
        var s = latentShape(video);                                                // [16, F, H, W]
        return s[1] / net.PatchSize.T * (s[2] / net.PatchSize.H) * (s[3] / net.PatchSize.W);
    }

    private string Latents(bool video) => string.Join("x", latentShape(video));

    // x: an OmniHuman DiT's extra inputs (MemoryPlan.Human.cs), null for Wan and OmniAvatar
    private Phase Cd(bool video, string note, HumanInputs? x = null)
    {
        var d = Config.Distill;
        long b = (d.Batch + Gpus - 1) / Gpus;
        if (d.Batch % Gpus != 0) Problems.Add($"distill.batch {d.Batch} does not split over {Gpus} GPUs (it is the global CD batch)");
        var input = DitInput(video, x);
        var lines = Trained([Generator with { Name = "student" }], 2, "AdamW").ToList();
        lines.Add(Same($"frozen teacher ({(Parallel == ParallelMode.Fsdp ? $"1/{Gpus} + its root gathered" : "whole")}, compute dtype)",
            (Share(Generator.Total) + (Parallel == ParallelMode.Fsdp ? Generator.Root : 0)) * ComputeBytes));
        if (PoseLine(b, video, 1, x) is { } pose) lines.Add(pose);
        lines.Add(Activations($"activations: student on {b} sample(s) x {input.Text}", b, input.Tokens, Generator.Blocks, input.Audio));
        return new Phase("distill (CD)", $"{(video ? "clips" : "images")} {Latents(video)}{note}, {b} per GPU", lines);
    }

    private Phase Apt(bool video, HumanInputs? x = null)
    {
        var s = video ? Config.Apt.Video : Config.Apt.Image;
        long b = s.MicroBatch;
        var input = DitInput(video, x);
        var lines = Trained([Generator, Discriminator!], 1, "RMSprop").ToList();
        lines.Add(Same($"EMA of G ({How})", Share(Generator.Total) * MasterBytes));
        if (Parallel == ParallelMode.Ddp)                                          // under fsdp they are on the host
            lines.Add(Same($"outside the trainer: teacher + CD student{(video ? " + image EMA" : "")} (whole, {DtypeName(dtype)})",
                (video ? 3 : 2) * Generator.Total * Bytes(dtype)));
        int dGraphs = 2 + (s.R1Lambda > 0 ? 1 : 0) + (s.R2Lambda > 0 ? 1 : 0);
        var dStep = Activations("", b, input.Tokens, dGraphs * DBlocksRun, input.Audio);
        var gStep = Activations("", b, input.Tokens, Generator.Blocks + DBlocksRun, input.Audio);
        var (dPose, gPose) = (PoseLine(b, video, dGraphs, x), PoseLine(b, video, 1, x));     // the G step differentiates through a frozen D
        var worst = dStep.Bytes + (dPose?.Bytes ?? 0) >= gStep.Bytes + (gPose?.Bytes ?? 0)
            ? ("D step", dStep, dPose, $"{dGraphs} D graphs") : ("G step", gStep, gPose, "G + D graphs");
        if (worst.Item3 is { } pose) lines.Add(pose);
        lines.Add(worst.Item2 with { Item = $"activations: {worst.Item1} ({worst.Item4}, {b} sample(s) x {input.Text})" });
        return new Phase(video ? "APT video phase" : "APT image phase", $"{Latents(video)} latents, micro-batch {b} per GPU", lines);
    }

    private static string DtypeName(ScalarType t) => t switch
    {
        ScalarType.BFloat16 => "bf16", ScalarType.Float16 => "fp16", ScalarType.Float64 => "float64", _ => "float32",
    };

    /// <summary>What a phase needs per GPU with the run's checkpointing setting.</summary>
    public long Needed(Phase p) => Checkpointing ? p.Total : p.TotalWithoutCheckpointing;

    /// <summary>The largest phase total (with the run's checkpointing setting).</summary>
    public long Peak => Phases.Max(Needed);

    /// <summary>Whether every phase fits in <paramref name="gpuBytes"/>.</summary>
    public bool Fits(long gpuBytes) => Peak <= gpuBytes && Problems.Count == 0;

    /// <summary>The smallest world size at which the plan fits (same config otherwise), or null when none does (the
    /// activations and the gathered working set do not shrink with N).</summary>
    public int? SmallestFit(long gpuBytes, int limit = 4096)
    {
        for (int n = 1; n <= limit; n++)
            if (WithGpus(n).Fits(gpuBytes)) return n;
        return null;
    }

    public static string Gb(long bytes) => (bytes / 1e9).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " GB";

    /// <summary>The printed plan (docs/precision-and-parallelism.md#memory-plan).</summary>
    public string Render(double gpuMemoryGb)
    {
        long gpu = (long)(gpuMemoryGb * 1e9);
        var w = new StringWriter();
        w.WriteLine($"{Config.Name}: {title}, precision {Config.Precision}, parallel {Config.Parallel}, {Gpus} GPU(s) of {gpuMemoryGb:0.#} GB" +
                    (Checkpointing ? "" : ", activation checkpointing off"));
        w.WriteLine($"  {sizes}");
        foreach (var p in Phases)
        {
            w.WriteLine($"  {p.Name}: {p.Shape}");
            foreach (var l in p.Lines)
                w.WriteLine($"    {l.Item,-78} {Gb(l.Bytes),10}" + (l.Bytes != l.BytesWithoutCheckpointing ? $"   (without checkpointing {Gb(l.BytesWithoutCheckpointing)})" : ""));
            w.WriteLine($"    {"total per GPU",-78} {Gb(p.Total),10}   (without checkpointing {Gb(p.TotalWithoutCheckpointing)}){(Needed(p) <= gpu ? "" : "  DOES NOT FIT")}");
        }
        if (HostBytes > 0) w.WriteLine($"  host memory per rank: {Gb(HostBytes)} ({hostNote})");
        foreach (var p in Problems) w.WriteLine($"  problem: {p}");
        var worst = Phases.MaxBy(Needed)!;
        string with = Checkpointing ? "" : " (without checkpointing, as configured)";
        if (Fits(gpu))
            w.WriteLine($"fits: the largest phase ({worst.Name}) needs {Gb(Needed(worst))}{with} of {Gb(gpu)} per GPU");
        else if (Peak <= gpu)
            w.WriteLine($"the memory fits ({Gb(Needed(worst))} of {Gb(gpu)}), but the run would stop: {string.Join("; ", Problems)}");
        else
        {
            var states = worst.Lines.Where(l => !l.Item.StartsWith("activations") && !l.Item.StartsWith("gathered")).Sum(l => l.Bytes);
            var fixedPart = Needed(worst) - states;
            w.WriteLine($"DOES NOT FIT: {worst.Name} needs {Gb(Needed(worst))}{with} per GPU but a GPU has {Gb(gpu)}: " +
                        $"{Gb(states)} of weights, gradients, optimizer state{(worst.Name.StartsWith("APT") ? " and EMA" : "")} " +
                        $"{(Parallel == ParallelMode.Fsdp ? $"(1/{Gpus} each)" : "(whole replicas: parallel ddp does not shard them)")} " +
                        $"plus {Gb(fixedPart)} of activations and gathered blocks (at {worst.Shape}; more GPUs shrink only a global batch's share)");
            var n = SmallestFit(gpu);
            w.WriteLine(n is { } k ? $"smallest number of GPUs that fits: {k} (--gpus {k})"
                : Parallel == ParallelMode.Fsdp ? $"no number of GPUs up to 4096 fits: reduce the micro-batch, frames or resolution (sequence parallelism is not built)"
                : "no number of GPUs fits with whole replicas: use parallel: fsdp to shard them");
        }
        return w.ToString();
    }
}
