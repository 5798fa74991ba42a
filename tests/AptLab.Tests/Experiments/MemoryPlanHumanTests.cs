using System.Text.RegularExpressions;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Experiments.Human;
using AptLab.Human;
using AptLab.Human.Training;
using AptLab.Tests.Distributed;
using AptLab.Wan;
using Xunit.Abstractions;

namespace AptLab.Tests.Experiments;

/// <summary>
/// `aptlab plan` on <c>experiment: omnihuman</c> (MemoryPlan.Human.cs):
/// <list type="bullet">
/// <item>the planned DiT is the one the run builds: on the tiny bf16 config its counts (whole, trained, per block) equal
/// those of the model HumanModels builds with weights, LoRA injected, and the encoders' widths agree;</item>
/// <item>the release configs' counts are Wan 2.1's base (counted on the meta device) plus
/// <see cref="OmniHumanConfig.AddedParameters"/>, the docs/omnihuman.md table's figures; the lines are count x dtype
/// size (ddp: whole float32 masters, gradients, two AdamW states, bf16 copies; fsdp: 1/N) and the activation line the
/// per-token formulas at the config's frames x resolution (video, reference and motion tokens);</item>
/// <item>the audio cross-attention's per-token figure against the allocator (one block's, as the difference of 5- and
/// 4-block DiTs with and without audio: 1.04-1.07 of it);</item>
/// <item>the pose guider's figure against the allocator (heatmaps excluded: 1.000 of it);</item>
/// <item>the release configs fit on the clusters their comments name, the 14B one not on one GPU: `--gpus 1` exits 3
/// with the reason and the smallest number of GPUs that fits.</item>
/// </list>
/// </summary>
public class MemoryPlanHumanTests(ITestOutputHelper output)
{
    private const long Gpu80 = 80_000_000_000L;

    private static ExperimentConfig Load(string name) => ConfigLoader.Load<ExperimentConfig>(TestPaths.Config(name));
    private static long BlockZero(Torch.nn.Module m, Func<string, bool> where) =>
        m.named_parameters().Where(p => where(p.name) && p.name.StartsWith("blocks.0.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());

    // the cluster a release config's comment names: "N ranks"
    private static int Ranks(string name)
    {
        var m = Regex.Match(File.ReadAllText(TestPaths.Config(name)), @"\((\d+) ranks\)|(\d+) x 80 GB GPUs, whole replicas");
        Assert.True(m.Success, $"{name}: the comment names no cluster");
        return int.Parse(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value);
    }

    private static long WanBase(WanConfig c)
    {
        using var wan = new WanModel(c, ScalarType.BFloat16, Device.Meta);
        return wan.parameters().Sum(p => p.numel());
    }

    [Fact]
    public void Tiny_plan_counts_the_dit_the_run_builds()
    {
        var cfg = Load("omnihuman-train-tiny-bf16.yaml");
        var h = cfg.Human!;
        var plan = new MemoryPlan(cfg, 1);
        output.WriteLine(plan.Render(80));
        h.Model.TokenizerPath = Path.Combine(TestPaths.Repo, h.Model.TokenizerPath);
        using var enc = HumanModels.Encoders(h, cfg.Seed);
        var arch = h.Model.Architecture(enc.TextDim, enc.TextLen, enc.AudioInDim);
        Assert.Equal(arch, MemoryPlan.HumanArchitecture(h.Model) with { PoseGuiderWidths = arch.PoseGuiderWidths });
        Assert.Equal(arch.PoseGuiderWidths, MemoryPlan.HumanArchitecture(h.Model).PoseGuiderWidths);
        var (dit, lora) = HumanModels.Dit(h, arch, cfg.Seed, lora: true, TextWriter.Null);     // with weights, as the run
        using var _dit = dit;
        Assert.NotNull(lora);
        var trained = HumanTrainableParameters.Apply(dit, h.Train.Mode);
        Assert.Equal(dit.num_parameters(), plan.Generator.Total);
        Assert.Equal(trained.Sum(t => t.parameter.numel()), plan.Trainable!.Total);
        Assert.Equal(BlockZero(dit, _ => true), plan.Generator.Block);
        Assert.Equal(BlockZero(dit, n => HumanTrainableParameters.IsTrainable(n, "lora")), plan.Trainable.Block);
        Assert.Equal(dit.blocks.Count, plan.Generator.Blocks);
        Assert.Equal(["stage 1", "stage 2", "stage 3"], plan.Phases.Select(p => p.Name));
        // 9 frames of 32 x 32: 3 latent frames of 4 x 4, 2 x 2 tokens each; + the reference's 4 and the motion frames' 2 x 4
        var d = h.Data;
        long perFrame = d.Height / h.Model.VaeSpatialFactor / 2 * (d.Width / h.Model.VaeSpatialFactor / 2);
        long video = ((d.Frames - 1) / 4 + 1) * perFrame, tokens = video + (1 + arch.MotionLatentFrames) * perFrame;
        Assert.Contains($"{h.Train.MicroBatch} clip(s) x {tokens} tokens ({video} video", plan.Phases[0].Lines[^1].Item);
        Assert.DoesNotContain(plan.Phases[0].Lines, l => l.Item.Contains("pose"));                         // stage 1: pose ratio 0
        Assert.Contains(plan.Phases[2].Lines, l => l.Item.Contains("pose heatmaps"));
        Assert.False(plan.Checkpointing);                                                                  // omnihuman-tiny: false
    }

    [Theory]
    [InlineData("omnihuman-wan2.1-1.3b.yaml", 1_418_996_800L, 301_716_656L)]      // docs/omnihuman.md, Checkpoints
    [InlineData("omnihuman-wan2.1-14b.yaml", 14_288_491_584L, 4_274_262_192L)]
    public void Release_plans_are_the_closed_forms_and_fit_their_cluster(string name, long docBase, long docAdded)
    {
        var cfg = Load(name);
        var h = cfg.Human!;
        int n = Ranks(name);
        var plan = new MemoryPlan(cfg, n);
        output.WriteLine(plan.Render(80));
        var arch = MemoryPlan.HumanArchitecture(h.Model);
        long wan = WanBase(arch.Wan with { InDim = arch.LatentChannels });
        Assert.Equal(wan + arch.AddedParameters, plan.Generator.Total);
        Assert.Equal((docBase, docAdded), (wan, arch.AddedParameters));
        Assert.Equal("full", h.Train.Mode);
        Assert.Equal(plan.Generator.Total, plan.Trainable!.Total);
        Assert.Equal(h.Train.MicroBatch * h.Train.Accumulation * n, 256);                                 // the paper's batch on that cluster

        long t = plan.Generator.Total;
        bool fsdp = cfg.ParallelMode == AptLab.Training.ParallelMode.Fsdp;
        long share = fsdp ? (t + n - 1) / n : t;
        var stage3 = plan.Phases.Single(p => p.Name == "stage 3");
        Assert.Equal([4 * share, 4 * share, 2 * 4 * share], stage3.Lines.Take(3).Select(l => l.Bytes));  // float32 masters, gradients, AdamW
        Assert.Equal(fsdp ? plan.Generator.Root * 2 + plan.Generator.Block * (2 * 2 + 4) : 2 * 2 * t,
            stage3.Lines[3].Bytes);                                                                        // gathered units / bf16 copies

        // activations: every block's float32 input, one block's intermediates and its audio cross-attention, at the
        // config's frames x resolution: video F·h·w tokens, the reference's h·w and the motion frames' 2·h·w
        var c = arch.Wan;
        long perFrame = h.Data.Height / 16 * (h.Data.Width / 16);
        long video = ((h.Data.Frames - 1) / 4 + 1) * perFrame, tokens = video + 3 * perFrame;
        long inner = tokens * (17L * 4 * c.Dim + 17L * 2 * c.Dim + 2L * 2 * c.FfnDim) + video * (3L * 4 * c.Dim + 4L * 2 * c.Dim);
        var dit = stage3.Lines[^1];
        Assert.Equal(c.NumLayers * tokens * 4L * c.Dim + inner, dit.Bytes);
        Assert.Equal(c.NumLayers * inner, dit.BytesWithoutCheckpointing);
        Assert.True(plan.Checkpointing);
        Assert.Equal(stage3.Total, plan.Peak);                                                            // pose makes stage 3 the largest
        Assert.True(plan.Fits(Gpu80), plan.Render(80));
    }

    [Fact]
    public void Pose_bytes_are_the_heatmaps_and_the_guiders_saved_tensors()
    {
        var arch = OmniHumanConfig.OmniHuman_1_3B;                                                     // widths 32, 64, 128; x8 space, x4 time
        long heat = 26L * 81 * 480 * 832 * 4;
        long input = 26L * 84 * 480 * 832;                                                             // frame 0 repeated 3 times in front
        long l1 = 32L * 84 * 240 * 416, l2 = 64L * 42 * 120 * 208, l3 = 128L * 21 * 60 * 104;          // strides (1,2,2), (2,2,2), (2,2,2)
        Assert.Equal(heat + 2 * (input + 2 * (l1 + l2 + l3)), MemoryPlan.PoseBytes(arch, 1, 81, 480, 832, 2));
    }

    [Fact]
    public void One_gpu_is_refused_for_14b_with_the_reason_and_the_smallest_fit()
    {
        var name = "omnihuman-wan2.1-14b.yaml";
        int n = Ranks(name);
        using var one = RankProcess.Start(["plan", TestPaths.Config(name), "--gpus", "1", "--gpu-memory", "80"], new Dictionary<string, string?>());
        using var cluster = RankProcess.Start(["plan", TestPaths.Config(name), "--gpus", n.ToString(), "--gpu-memory", "80"], new Dictionary<string, string?>());
        foreach (var p in new[] { one, cluster }) Assert.True(p.WaitForExit(TimeSpan.FromSeconds(180)), p.Describe("plan"));
        output.WriteLine(one.Stdout);
        Assert.True(cluster.ExitCode == 0, cluster.Describe($"plan --gpus {n}"));
        Assert.Contains("fits: the largest phase (stage 3)", cluster.Stdout);
        Assert.Equal(3, one.ExitCode);
        Assert.Contains("DOES NOT FIT: stage 3", one.Stdout);
        Assert.Contains("(1/1 each)", one.Stdout);
        var plan = new MemoryPlan(Load(name), 1);
        Assert.False(plan.Fits(Gpu80));
        var smallest = plan.SmallestFit(Gpu80);
        Assert.NotNull(smallest);
        Assert.InRange(smallest!.Value, 2, n);
        Assert.Contains($"smallest number of GPUs that fits: {smallest}", one.Stdout);
        Assert.True(plan.WithGpus(smallest.Value).Fits(Gpu80) && !plan.WithGpus(smallest.Value - 1).Fits(Gpu80));
    }

    // Live bytes after a forward with gradients (graph alive) of a bf16 OmniHuman DiT of `layers` blocks, with or
    // without audio, on b clips of f x h x w latent tokens (no checkpointing: every block keeps what it saves).
    private static long ForwardBytes(int layers, bool audio, int dim, int ffn, int b, int f, int h, int w)
    {
        using var scope = torch.NewScope();
        using var g = new Generator(1);
        var arch = new OmniHumanConfig
        {
            Wan = new WanConfig
            {
                ModelType = "t2v", InDim = 16 + 3 * 4, Dim = dim, FfnDim = ffn, FreqDim = 16, TextDim = 32, OutDim = 16,
                NumHeads = 2, NumLayers = layers, TextLen = 8, Eps = 1e-6,
            },
            AudioInDim = 24, PoseChannels = 4, PoseGuiderWidths = [8, 8, 8],
        };
        using var dit = new OmniHumanModel(arch, ScalarType.BFloat16, generator: g);
        dit.train();
        var x = torch.randn([b, 16, f, 2 * h, 2 * w], generator: g).to(ScalarType.BFloat16);
        var ctx = torch.randn([b, 8, 32], generator: g).to(ScalarType.BFloat16);
        var t = torch.full([b], 500.0);
        var c = audio
            ? new HumanConditions { Audio = torch.randn([b, 4 * (f - 1) + 1, arch.AudioTokensPerFrame, 24], generator: g), AudioOn = torch.ones(b) }
            : HumanConditions.None;
        long before = torch.cpu_memory_allocated();
        var o = dit.forward(x, t, ctx, c);
        long after = torch.cpu_memory_allocated();
        o.to(ScalarType.Float32).sum().backward();                                                // the graph was real
        return after - before;
    }

    [Theory]
    [InlineData(96, 256, 2, 8, 8)]      // 2 clips x 2 x 8 x 8 = 256 video tokens per clip pair
    [InlineData(192, 512, 3, 8, 8)]     // 384 tokens
    public void Audio_cross_attention_bytes_match_the_allocator(int dim, int ffn, int f, int h, int w)
    {
        int b = 2;
        long Block(bool audio) => ForwardBytes(5, audio, dim, ffn, b, f, h, w) - ForwardBytes(4, audio, dim, ffn, b, f, h, w);
        long extra = Block(true) - Block(false);
        long tokens = (long)b * f * h * w;
        double r = (double)extra / (tokens * MemoryPlan.AudioCrossAttentionBytesPerToken(new WanConfig { Dim = dim, FfnDim = ffn }));
        output.WriteLine($"dim {dim}, {tokens} video tokens: one block's audio cross-attention keeps {extra} bytes ({r:F3} x the plan's figure)");
        Assert.InRange(r, 0.95, 1.15);                                                      // measured 1.04-1.07
    }

    [Theory]
    [InlineData(9, 64, 64)]
    [InlineData(13, 48, 80)]
    public void Pose_guider_bytes_match_the_allocator(int frames, int height, int width)
    {
        using var scope = torch.NewScope();
        using var g = new Generator(1);
        var arch = new OmniHumanConfig { PoseChannels = 4, PoseGuiderWidths = [8, 16, 32] };        // x8 space, x4 time
        using var guider = new PoseGuider(arch, ScalarType.BFloat16);
        guider.train();
        const int b = 2;
        var heat = torch.rand([b, arch.PoseHeatmapChannels, frames, height, width], generator: g);   // float32, as rendered
        long before = torch.cpu_memory_allocated();
        var y = guider.forward(heat);
        long after = torch.cpu_memory_allocated();
        y.to(ScalarType.Float32).sum().backward();                                                  // the graph was real
        Assert.NotNull(guider.layers[0].weight.grad);
        long planned = MemoryPlan.PoseBytes(arch, b, frames, height, width, 2) - 4L * b * arch.PoseHeatmapChannels * frames * height * width;
        double r = (double)(after - before) / planned;
        output.WriteLine($"{b} x {frames} x {height}x{width}: the guider keeps {after - before} bytes ({r:F3} x the plan's figure)");
        Assert.InRange(r, 0.9, 1.15);                                                      // measured 1.000 (both cases)
    }
}
