using AptLab.Apt;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Tests.Distributed;
using AptLab.Training;
using AptLab.Wan;
using Xunit.Abstractions;

namespace AptLab.Tests.Precision;

/// <summary>
/// `aptlab plan` (<see cref="MemoryPlan"/>):
/// <list type="bullet">
/// <item>the per-token activation figures it extrapolates with are those of the real Wan block: the bytes a bf16 block
/// keeps for backward (without checkpointing) and the bytes a checkpointed block keeps, measured with the shim's
/// allocator as the difference between a 3-block and a 2-block DiT at two widths and two token counts, agree with
/// <see cref="MemoryPlan.BlockIntermediateBytesPerToken"/> and <see cref="MemoryPlan.CheckpointBytesPerToken"/> to 25%
/// (a formula missing the FFN, the float32 islands or counting per sample instead of per token is off by 2x or more);</item>
/// <item>the meta-device counts are the released architectures' (14B: 14,288,491,584 parameters) and every line of
/// the 14B plan equals the hand formula (masters 4 bytes x (G + D) / N, RMSprop 1 state, EMA of G);</item>
/// <item>the real 14B and 1.3B configs fit on the GPUs their world_size names (80 GB), and `aptlab plan` on one GPU
/// says it does not fit, why, and the smallest N that does.</item>
/// </list>
/// </summary>
public class MemoryPlanTests(ITestOutputHelper output)
{
    // Live bytes after a forward with gradients of a `layers`-block bf16 DiT on b samples of f x h x w latent tokens
    // (graph alive), above the figure before it.
    private static long ForwardBytes(WanConfig c, int layers, bool checkpointing, int b, int f, int h, int w)
    {
        using var scope = torch.NewScope();
        using var g = new Generator(1);
        var model = new WanFlowModel(new WanModel(c with { NumLayers = layers }, ScalarType.BFloat16, generator: g)) { GradientCheckpointing = checkpointing };
        using var _m = model;
        var x = torch.randn([b, 16, f, 2 * h, 2 * w], generator: g);
        var ctx = torch.randn([b, c.TextLen, c.TextDim], generator: g).to(ScalarType.BFloat16);
        var sigma = torch.full([b], 0.5);
        x.requires_grad_();
        long before = torch.cpu_memory_allocated();
        var y = model.Forward(x, sigma, new Conditioning(ctx)).Output;
        long after = torch.cpu_memory_allocated();
        y.sum().backward();                                    // the graph was real
        return after - before;
    }

    [Theory]
    [InlineData(64, 128, 2, 8, 8)]      // 2 x 8 x 8 = 128 tokens
    [InlineData(128, 512, 1, 8, 8)]     // 64 tokens, FFN 4x
    public void Activation_figures_match_the_block_measured_by_the_allocator(int dim, int ffn, int f, int h, int w)
    {
        var c = WanConfig.TinyT2V with { Dim = dim, FfnDim = ffn, NumHeads = 2, TextLen = 8 };
        int b = 2;
        long tokens = (long)b * f * h * w;
        long full = ForwardBytes(c, 3, false, b, f, h, w) - ForwardBytes(c, 2, false, b, f, h, w);
        long ckpt = ForwardBytes(c, 3, true, b, f, h, w) - ForwardBytes(c, 2, true, b, f, h, w);
        double rf = (double)full / (tokens * MemoryPlan.BlockIntermediateBytesPerToken(c));
        double rc = (double)ckpt / (tokens * MemoryPlan.CheckpointBytesPerToken(c));
        output.WriteLine($"dim {dim}, ffn {ffn}, {tokens} tokens: a block keeps {full} bytes ({rf:F3} x the plan's figure); checkpointed {ckpt} ({rc:F3} x)");
        Assert.InRange(rf, 0.75, 1.25);
        Assert.InRange(rc, 0.75, 1.25);
    }

    private static ExperimentConfig Real(string name) => ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", name));

    [Fact]
    public void The_14b_plan_counts_the_release_and_each_line_is_the_hand_formula()
    {
        var cfg = Real("apt-wan2.1-t2v-14b.yaml");
        int n = cfg.Apt.WorldSize;
        var plan = new MemoryPlan(cfg, n);
        output.WriteLine(plan.Render(80));
        Assert.Equal(14_288_491_584L, plan.Generator.Total);
        Assert.Equal(40, plan.Generator.Blocks);
        Assert.Equal(plan.Generator.Total, plan.Generator.Root + 40 * plan.Generator.Block);
        Assert.True(plan.Discriminator!.Total > plan.Generator.Total);                     // the backbone plus the read-out heads
        long ceil(long p) => (p + n - 1) / n;
        var video = plan.Phases.Single(p => p.Name == "APT video phase");
        long masters = 4 * (ceil(plan.Generator.Total) + ceil(plan.Discriminator!.Total));
        Assert.Equal(masters, video.Lines[0].Bytes);                                      // float32 masters, 1/N
        Assert.Equal(masters, video.Lines[1].Bytes);                                      // float32 gradients
        Assert.Equal(masters, video.Lines[2].Bytes);                                      // RMSprop: one state
        Assert.Equal(4 * ceil(plan.Generator.Total), video.Lines.Single(l => l.Item.StartsWith("EMA")).Bytes);
        var cd = plan.Phases.Single(p => p.Name.StartsWith("distill"));
        Assert.Equal(2 * 4 * ceil(plan.Generator.Total), cd.Lines[2].Bytes);              // AdamW: two states
        Assert.True(plan.Fits(80_000_000_000L), $"the 14B config's plan does not fit on {n} x 80 GB:\n{plan.Render(80)}");
        Assert.False(new MemoryPlan(cfg, 1).Fits(80_000_000_000L));
    }

    [Fact]
    public void The_real_configs_fit_their_cluster_and_one_gpu_is_refused_with_the_reason()
    {
        foreach (var name in new[] { "apt-wan2.1-t2v-1.3b.yaml", "apt-wan2.1-t2v-14b.yaml" })
        {
            var cfg = Real(name);
            Assert.True(new MemoryPlan(cfg, cfg.Apt.WorldSize).Fits(80_000_000_000L), $"{name}:\n{new MemoryPlan(cfg, cfg.Apt.WorldSize).Render(80)}");
        }
        var config = Path.Combine(TestPaths.Repo, "configs", "apt-wan2.1-t2v-14b.yaml");
        using var fits = RankProcess.Start(["plan", config, "--gpus", "128", "--gpu-memory", "80"], new Dictionary<string, string?>());
        using var one = RankProcess.Start(["plan", config, "--gpus", "1", "--gpu-memory", "80"], new Dictionary<string, string?>());
        Assert.True(fits.WaitForExit(TimeSpan.FromSeconds(60)) && one.WaitForExit(TimeSpan.FromSeconds(60)));
        output.WriteLine(fits.Stdout);
        output.WriteLine(one.Stdout);
        Assert.True(fits.ExitCode == 0, fits.Describe("plan --gpus 128"));
        Assert.Contains("fits: the largest phase", fits.Stdout);
        Assert.Equal(3, one.ExitCode);
        Assert.Contains("DOES NOT FIT", one.Stdout);
        Assert.Contains("(1/1 each)", one.Stdout);                                           // why: states of 1/1 of G, D, EMA
        var plan = new MemoryPlan(Real("apt-wan2.1-t2v-14b.yaml"), 1);
        var smallest = plan.SmallestFit(80_000_000_000L);
        Assert.NotNull(smallest);
        Assert.Contains($"smallest number of GPUs that fits: {smallest}", one.Stdout);
        Assert.InRange(smallest!.Value, 2, 128);
        Assert.True(plan.WithGpus(smallest.Value).Fits(80_000_000_000L) && !plan.WithGpus(smallest.Value - 1).Fits(80_000_000_000L));
    }
}
