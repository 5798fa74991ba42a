using AptLab.Avatar.Apt;
using AptLab.Avatar.Training;
using AptLab.Config;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Experiments.Avatar;
using AptLab.Avatar;
using AptLab.Tests.Distributed;
using AptLab.Torch.nn;
using AptLab.Wan;
using Xunit.Abstractions;

namespace AptLab.Tests.Experiments;

/// <summary>
/// `aptlab plan` on the OmniAvatar kinds (MemoryPlan.Avatar.cs):
/// <list type="bullet">
/// <item>the planned networks are the ones the runs build: on the tiny configs their counts (G, D, the fine-tuned DiT,
/// its trained tensors) equal those of the models the runs actually build with weights, unit by unit;</item>
/// <item>the 1.3B counts are the closed forms of the architecture (LoRA: r (in + out) per adapted linear) and the
/// lines are the hand formulas (ddp: whole float32 masters, gradients, RMSprop or AdamW state, EMA; bf16 copies);</item>
/// <item>the fine-tune's activation line extrapolates with the Wan block's per-token figures, an upper bound there: a
/// LoRA-adapted OmniAvatar block over a frozen bf16 base (LoRA rank dim/12, as 128 of 1536), measured with the shim's
/// allocator as the difference between a 5- and a 4-block DiT, keeps 0.6..1.0 of the intermediate figure (frozen
/// norms, modulation and linears save less for backward than trainable ones: 0.73 and 0.80 measured) and 0.75..1.25
/// of the checkpointed one;</item>
/// <item>the real configs fit on the GPUs their comments name (apt-omniavatar-1.3b: 8 x 80 GB; the fine-tune: one),
/// `--gpus 1` of apt-omniavatar-1.3b does not fit and says why and with how many it does, and the CLI's exit codes
/// are 0 (fits), 3 (does not) and 2 (a config it cannot plan, a bad --gpus).</item>
/// </list>
/// </summary>
public class MemoryPlanAvatarTests(ITestOutputHelper output)
{
    private const long Gpu80 = 80_000_000_000L;

    private static ExperimentConfig Load(string name) => ConfigLoader.Load<ExperimentConfig>(TestPaths.Config(name));
    private static long Count(Torch.nn.Module m) => m.parameters().Sum(p => p.numel());
    // the parameters of block 0 (of the backbone's blocks; the read-out heads are root)
    private static long CountBlocks(Torch.nn.Module m, Func<string, bool> where)
    {
        long n = 0;
        foreach (var (name, p) in m.named_parameters())
            if (where(name) && (name.StartsWith("blocks.0.", StringComparison.Ordinal) || name.Contains(".blocks.0.", StringComparison.Ordinal))
                && !name.StartsWith("readout", StringComparison.Ordinal))
                n += p.numel();
        return n;
    }

    [Fact]
    public void Tiny_apt_plan_counts_the_models_the_run_builds()
    {
        var cfg = Load("apt-omniavatar-tiny.yaml");
        var plan = new MemoryPlan(cfg, 1);
        output.WriteLine(plan.Render(80));
        using var models = AvatarAptModels.Build(cfg.Omniavatar!, Device.CPU, cfg.Apt.HeadLayers, cfg.Seed);   // with weights, as the run
        Assert.NotEqual(DeviceType.Meta, models.Student.Module.parameters().First().device.Type);
        Assert.Equal(Count(models.Student.Module), plan.Generator.Total);
        Assert.Equal(Count(models.Teacher.Module), plan.Generator.Total);
        Assert.Equal(Count(models.Discriminator), plan.Discriminator!.Total);
        Assert.Equal(models.Student.NumLayers, plan.Generator.Blocks);
        Assert.Equal(CountBlocks(models.Student.Module, _ => true), plan.Generator.Block);
        Assert.Equal(CountBlocks(models.Discriminator, _ => true), plan.Discriminator.Block);
        Assert.Equal(models.Discriminator.Layers.Max() + 1, plan.DBlocksRun);
        Assert.Equal(["distill (CD)", "APT image phase", "APT video phase"], plan.Phases.Select(p => p.Name));
        // tokens: the cached 32 x 32 frames are 4 x 4 latents, 2 x 2 tokens per latent frame
        Assert.Contains($"{2 * 2 * cfg.Omniavatar!.Data.VideoLatentFrames} tokens", plan.Phases[2].Lines[^1].Item);
        Assert.False(plan.Checkpointing);                                                  // gradient_checkpointing: false
        Assert.Equal(plan.Phases.Max(p => p.TotalWithoutCheckpointing), plan.Peak);
    }

    [Fact]
    public void Tiny_finetune_plan_counts_the_dit_the_run_builds()
    {
        var cfg = Load("omniavatar-train-tiny.yaml");
        var plan = new MemoryPlan(cfg, 1);
        output.WriteLine(plan.Render(80));
        var (dit, _) = AvatarFinetuneModels.BuildDit(cfg.Avatar!, cfg.Seed, TextWriter.Null);
        using var _dit = dit;
        var trained = AvatarTrainableParameters.Apply(dit);
        Assert.Equal(dit.num_parameters(), plan.Generator.Total);
        Assert.Equal(trained.Sum(t => t.parameter.numel()), plan.Trainable!.Total);
        Assert.Equal(CountBlocks(dit, AvatarTrainableParameters.IsTrainable), plan.Trainable.Block);
        Assert.Equal(dit.blocks.Count, plan.Trainable.Blocks);
        Assert.Null(plan.Discriminator);
        var p = Assert.Single(plan.Phases);
        Assert.Equal("fine-tune", p.Name);
        var d = cfg.Avatar!.Data;
        long tokens = d.LatentFrames() * (d.Height / 16) * (d.Width / 16);
        Assert.Contains($"{cfg.Avatar.MicroBatch} clip(s) x {tokens} tokens", p.Lines[^1].Item);
    }

    [Fact]
    public void The_13b_plans_are_the_closed_forms_and_fit_their_gpus()
    {
        var apt = Load("apt-omniavatar-1.3b.yaml");
        int n = apt.Apt.WorldSize;
        Assert.Equal(8, n);
        var plan = new MemoryPlan(apt, n);
        output.WriteLine(plan.Render(80));
        Assert.True(plan.Fits(Gpu80), plan.Render(80));
        Assert.Equal(1_421_187_232L, plan.Generator.Total);                                  // AvatarAptConfigTests' closed form
        long g = plan.Generator.Total, d = plan.Discriminator!.Total;
        var video = plan.Phases.Single(p => p.Name == "APT video phase");
        Assert.Equal(4 * (g + d), video.Lines[0].Bytes);                                      // ddp: whole float32 masters
        Assert.Equal(4 * (g + d), video.Lines[1].Bytes);                                      // gradients
        Assert.Equal(4 * (g + d), video.Lines[2].Bytes);                                      // RMSprop: one state
        Assert.Equal(2 * 2 * (g + d), video.Lines[3].Bytes);                                  // bf16 copies and their gradients
        Assert.Equal(4 * g, video.Lines.Single(l => l.Item.StartsWith("EMA")).Bytes);
        Assert.Equal(3 * 2 * g, video.Lines.Single(l => l.Item.StartsWith("outside the trainer")).Bytes);   // teacher, CD student, image EMA
        var cd = plan.Phases.Single(p => p.Name.StartsWith("distill"));
        Assert.Equal(2 * 4 * g, cd.Lines[2].Bytes);                                           // AdamW: two states
        Assert.Contains("1 per GPU", cd.Shape);                                               // distill.batch 8 over 8 ranks
        Assert.Contains("20280 tokens", video.Lines[^1].Item);                                // 13 x 30 x 52 tokens of 480 x 832

        var ft = Load("omniavatar-1.3b-train.yaml");
        var fp = new MemoryPlan(ft, 1);
        output.WriteLine(fp.Render(80));
        Assert.True(fp.Fits(Gpu80), fp.Render(80));
        const long dim = 1536, ffn = 8960, r = 128, layers = 30;
        long loraPerBlock = r * 8 * (dim + dim) + r * (dim + ffn) + r * (ffn + dim);            // q,k,v,o twice; ffn.0; ffn.2
        long patch = dim * 33 * 4 + dim, audio = (4 * 10752 * 32 + 32) + 2 * 32 + 14 * (32 * dim + dim);
        Assert.Equal(layers * loraPerBlock + patch + audio, fp.Trainable!.Total);
        Assert.Equal(g - audio - patch, fp.Generator.Total - fp.Trainable.Total);               // the frozen Wan base
        var lines = fp.Phases[0].Lines;
        long t = fp.Trainable.Total;
        Assert.Equal([4 * t, 4 * t, 8 * t, 4 * t, 2 * (g - audio - patch)], lines.Take(5).Select(l => l.Bytes));
    }

    // Live bytes after a forward with gradients (graph alive) of a bf16 OmniAvatar DiT of `layers` blocks with LoRA on
    // its linears and only the fine-tune's tensors trainable, on b clips of f x h x w latent tokens.
    private static long FinetuneForwardBytes(int dim, int ffn, int layers, bool checkpointing, int b, int f, int h, int w)
    {
        using var scope = torch.NewScope();
        using var g = new Generator(1);
        var arch = new OmniAvatarConfig
        {
            Wan = new WanConfig
            {
                ModelType = "t2v", InDim = 33, Dim = dim, FfnDim = ffn, FreqDim = 16, TextDim = 32, OutDim = 16,
                NumHeads = 2, NumLayers = layers, TextLen = 8, Eps = 1e-6,
            },
            AudioInDim = 24, AudioHiddenSize = 8,
        };
        using var dit = new OmniAvatarModel(arch, ScalarType.BFloat16, generator: g);
        var lora = Lora.Inject(dit, new LoraConfig(dim / 12, dim / 24.0, LoraConfig.ParseTargets("q,k,v,o,ffn.0,ffn.2")), g);
        AvatarTrainableParameters.Apply(dit);
        dit.GradientCheckpointing = checkpointing;
        dit.train();
        var x = torch.randn([b, 16, f, 2 * h, 2 * w], generator: g).to(ScalarType.BFloat16);
        var y = torch.randn([b, 17, f, 2 * h, 2 * w], generator: g).to(ScalarType.BFloat16);
        var ctx = torch.randn([b, 8, 32], generator: g).to(ScalarType.BFloat16);
        var t = torch.full([b], 500.0);
        long before = torch.cpu_memory_allocated();
        var o = dit.forward(x, t, ctx, y, null);
        long after = torch.cpu_memory_allocated();
        o.to(ScalarType.Float32).sum().backward();                                        // the graph was real
        Assert.All(lora.Adapters.Values, a => Assert.NotNull(a.lora_A.weight.grad));
        return after - before;
    }

    [Theory]
    [InlineData(96, 512, 2, 8, 8)]      // 2 clips x 2 x 8 x 8 = 256 tokens, LoRA rank 8
    [InlineData(192, 768, 1, 8, 8)]     // 128 tokens, LoRA rank 16
    public void Finetune_activations_match_the_lora_block_measured_by_the_allocator(int dim, int ffn, int f, int h, int w)
    {
        int b = 2;
        long tokens = (long)b * f * h * w;
        long full = FinetuneForwardBytes(dim, ffn, 5, false, b, f, h, w) - FinetuneForwardBytes(dim, ffn, 4, false, b, f, h, w);
        long ckpt = FinetuneForwardBytes(dim, ffn, 5, true, b, f, h, w) - FinetuneForwardBytes(dim, ffn, 4, true, b, f, h, w);
        var c = new WanConfig { Dim = dim, FfnDim = ffn };
        double rf = (double)full / (tokens * MemoryPlan.BlockIntermediateBytesPerToken(c));
        double rc = (double)ckpt / (tokens * MemoryPlan.CheckpointBytesPerToken(c));
        output.WriteLine($"dim {dim}, ffn {ffn}, {tokens} tokens: a LoRA block keeps {full} bytes ({rf:F3} x the plan's figure); checkpointed {ckpt} ({rc:F3} x)");
        Assert.InRange(rf, 0.6, 1.0);                                                    // the plan's figure bounds it
        Assert.InRange(rc, 0.75, 1.25);
    }

    [Fact]
    public void One_gpu_is_refused_with_the_reason_and_the_cli_exit_codes()
    {
        var config = TestPaths.Config("apt-omniavatar-1.3b.yaml");
        using var fits = RankProcess.Start(["plan", config, "--gpus", "8", "--gpu-memory", "80"], new Dictionary<string, string?>());
        using var one = RankProcess.Start(["plan", config, "--gpus", "1", "--gpu-memory", "80"], new Dictionary<string, string?>());
        using var other = RankProcess.Start(["plan", TestPaths.Config("demo.yaml")], new Dictionary<string, string?>());
        using var zero = RankProcess.Start(["plan", config, "--gpus", "0"], new Dictionary<string, string?>());
        foreach (var p in new[] { fits, one, other, zero }) Assert.True(p.WaitForExit(TimeSpan.FromSeconds(120)), p.Describe("plan"));
        output.WriteLine(one.Stdout);
        Assert.True(fits.ExitCode == 0, fits.Describe("plan --gpus 8"));
        Assert.Contains("fits: the largest phase (APT video phase)", fits.Stdout);
        Assert.Equal(3, one.ExitCode);
        Assert.Contains("DOES NOT FIT: distill (CD)", one.Stdout);                             // the global CD batch of 8 clips on one GPU
        Assert.Contains("8 per GPU", one.Stdout);
        Assert.Contains("whole replicas", one.Stdout);
        var plan = new MemoryPlan(Load("apt-omniavatar-1.3b.yaml"), 1);
        var smallest = plan.SmallestFit(Gpu80);
        Assert.NotNull(smallest);
        Assert.Contains($"smallest number of GPUs that fits: {smallest}", one.Stdout);
        Assert.True(plan.WithGpus(smallest!.Value).Fits(Gpu80) && !plan.WithGpus(smallest.Value - 1).Fits(Gpu80));
        Assert.Equal(2, other.ExitCode);
        Assert.Contains("the planner covers experiment: apt-wan, apt-omniavatar, omniavatar-finetune", other.Stderr);
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("--gpus must be >= 1", zero.Stderr);
    }

    [Fact]
    public void The_cache_is_checked_against_the_configured_frame_size()
    {
        using var dir = TestPaths.Temp();
        AvatarAptSamples.WriteRandom(dir.Path, 2, 3, 24, 32, 1);                           // latents [16, 3, 4, 4]: 32 x 32 frames
        var cfg = new AvatarAptDataConfig { Height = 32, Width = 32, VideoLatentFrames = 3 };
        Assert.Equal(2, AvatarAptSamples.Open(dir.Path, cfg, Device.CPU, ScalarType.Float32).Count);
        var e = Assert.Throws<InvalidDataException>(() =>
            AvatarAptSamples.Open(dir.Path, new AvatarAptDataConfig { Height = 480, Width = 832, VideoLatentFrames = 3 }, Device.CPU, ScalarType.Float32));
        Assert.Contains("omniavatar.data.height/width", e.Message);
        Assert.Contains("32x32 pixels", e.Message);
    }

    [Fact]
    public void Finetune_preset_is_validated()
    {
        var yaml = File.ReadAllText(TestPaths.Config("omniavatar-1.3b-train.yaml"));
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>(yaml.Replace("preset: omniavatar-1.3b", "preset: omniavatar-7b"), "x.yaml"));
        Assert.Contains("avatar.preset", e.Message);
        var none = ConfigLoader.Parse<ExperimentConfig>(yaml.Replace("preset: omniavatar-1.3b", "preset: \"\""), "y.yaml");
        Assert.Null(none.Avatar!.Architecture());                                            // only dit_path knows
        var p = Assert.Throws<ArgumentException>(() => new MemoryPlan(none, 1));
        Assert.Contains("avatar.preset", p.Message);
    }
}
