using System.Text.RegularExpressions;
using AptLab.Apt;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Experiments.Human;
using AptLab.Human;
using AptLab.Human.Apt;
using AptLab.Tests.Distributed;
using AptLab.Training;
using AptLab.Wan;
using Xunit.Abstractions;

namespace AptLab.Tests.Experiments;

/// <summary>
/// `aptlab plan` on <c>experiment: apt-omnihuman</c> (MemoryPlan.Human.cs, the APT phases of MemoryPlan.cs):
/// <list type="bullet">
/// <item>the planned G and D are the run's: on the tiny config they count as the teacher copies the run makes from its
/// random teacher (<see cref="HumanAptExperiment.Teacher"/>, <see cref="AptStage"/>'s discriminator), unit by unit; on
/// the release config as the meta-device OmniHuman and discriminator of its architecture;</item>
/// <item>the lines are the formulas: fsdp shares of float32 masters, gradients and RMSprop state, the gathered units,
/// the EMA; the pose line is the heatmaps once plus one pose-guider graph per D graph; the activation line counts the
/// video, reference and motion tokens (and only the video ones when human.apt_conditions turns reference and motion
/// off) with the audio cross-attention on the video tokens;</item>
/// <item>the numbers the config's comment states are the plan's, at 8 GPUs under fsdp (fits) and ddp (does not), and
/// `--gpus 1` exits 3 with the reason and the smallest number of GPUs that fits.</item>
/// </list>
/// </summary>
public class MemoryPlanHumanAptTests(ITestOutputHelper output)
{
    private const long Gpu80 = 80_000_000_000L;
    private const string Release = "apt-omnihuman-wan2.1-1.3b.yaml";

    private static ExperimentConfig Load(string name) => ConfigLoader.Load<ExperimentConfig>(TestPaths.Config(name));
    private static long Count(Torch.nn.Module m) => m.parameters().Sum(p => p.numel());
    private static long BlockZero(Torch.nn.Module m) => m.named_parameters()
        .Where(p => (p.name.StartsWith("blocks.0.", StringComparison.Ordinal) || p.name.Contains(".blocks.0.", StringComparison.Ordinal))
                    && !p.name.StartsWith("readout", StringComparison.Ordinal))
        .Sum(p => p.parameter.numel());

    [Fact]
    public void Tiny_plan_counts_the_generator_and_discriminator_the_run_copies_from_its_teacher()
    {
        var cfg = Load("apt-omnihuman-tiny.yaml");
        var plan = new MemoryPlan(cfg, 1);
        output.WriteLine(plan.Render(80));
        cfg.Human!.Model.TokenizerPath = Path.Combine(TestPaths.Repo, cfg.Human.Model.TokenizerPath);
        using var tmp = TestPaths.Temp();
        using var ctx = new RunContext(cfg, RunDirectory.Create(tmp.Path, cfg.Name, "a"), TextWriter.Null);
        using var side = HumanAptExperiment.Teacher(ctx);                                  // with weights, as the run
        using var g = side.Teacher.Copy();                                                  // CdStage's student, AptStage's generator
        var layers = cfg.Apt.HeadLayers.Count > 0 ? cfg.Apt.HeadLayers.ToArray() : null;
        using var d = new Discriminator(side.Teacher.Copy(), layers);                       // AptStage.Phase
        Assert.NotEqual(DeviceType.Meta, g.Module.parameters().First().device.Type);
        Assert.Equal(Count(g.Module), plan.Generator.Total);
        Assert.Equal(Count(d), plan.Discriminator!.Total);
        Assert.Equal(BlockZero(g.Module), plan.Generator.Block);
        Assert.Equal(BlockZero(d), plan.Discriminator.Block);
        Assert.Equal(g.NumLayers, plan.Generator.Blocks);
        Assert.Equal(d.Layers.Max() + 1, plan.DBlocksRun);
        Assert.Equal(["distill (CD)", "APT image phase", "APT video phase"], plan.Phases.Select(p => p.Name));
        Assert.Equal(0, plan.HostBytes);                                                   // a random teacher: no encoders
    }

    [Fact]
    public void Release_counts_are_the_meta_models_of_its_architecture()
    {
        var cfg = Load(Release);
        var h = cfg.Human!;
        Assert.NotEmpty(h.From);                                                            // the plan does not open it
        var plan = new MemoryPlan(cfg, 8);
        var arch = MemoryPlan.HumanArchitecture(h.Model);
        using (var g = new OmniHumanModel(arch, h.Model.ModelDtype, Device.Meta))
        {
            Assert.Equal(Count(g), plan.Generator.Total);
            Assert.Equal(BlockZero(g), plan.Generator.Block);
            Assert.Equal(g.blocks.Count, plan.Generator.Blocks);
        }
        using (var wan = new WanModel(arch.Wan with { InDim = arch.LatentChannels }, ScalarType.BFloat16, Device.Meta))
            Assert.Equal(Count(wan) + arch.AddedParameters, plan.Generator.Total);          // docs/omnihuman.md#checkpoints
        using (var d = new Discriminator(new OmniHumanFlowModel(new OmniHumanModel(arch, h.Model.ModelDtype, Device.Meta)), cfg.Apt.HeadLayers.ToArray()))
        {
            Assert.Equal(Count(d), plan.Discriminator!.Total);
            Assert.Equal(d.Layers.Max() + 1, plan.DBlocksRun);
        }
        Assert.True(plan.HostBytes > 0);                                                    // the encoders the run holds
        var e = new MemoryPlan(cfg, 1).Render(80);
        Assert.Contains("held on the host for the whole run", e);

        h.Model.Preset = "";                                                                // only a config built in code can lack it
        var none = Assert.Throws<ArgumentException>(() => new MemoryPlan(cfg, 8));
        Assert.Contains("human.model.preset", none.Message);
        Assert.Contains("human.from", none.Message);
    }

    [Fact]
    public void Release_lines_are_the_formulas_with_reference_motion_and_audio_tokens()
    {
        var cfg = Load(Release);
        var h = cfg.Human!;
        const int n = 8;
        Assert.Equal(ParallelMode.Fsdp, cfg.ParallelMode);
        var plan = new MemoryPlan(cfg, n);
        output.WriteLine(plan.Render(80));
        var arch = MemoryPlan.HumanArchitecture(h.Model);
        var c = arch.Wan;
        long G = plan.Generator.Total, D = plan.Discriminator!.Total;
        long Share(long x) => (x + n - 1) / n;
        var video = plan.Phases.Single(p => p.Name == "APT video phase");
        long masters = 4 * (Share(G) + Share(D));
        Assert.Equal([masters, masters, masters], video.Lines.Take(3).Select(l => l.Bytes));       // float32 masters, gradients, RMSprop
        long block = Math.Max(plan.Generator.Block, plan.Discriminator.Block);
        Assert.Equal((plan.Generator.Root + plan.Discriminator.Root) * 2 + block * (2 * 2 + 4), video.Lines[3].Bytes);
        Assert.Equal(4 * Share(G), video.Lines.Single(l => l.Item.StartsWith("EMA")).Bytes);
        Assert.DoesNotContain(video.Lines, l => l.Item.StartsWith("outside the trainer"));        // fsdp: on the host

        // tokens: F·h·w video, the reference's h·w, the motion frames' M·h·w (all on under the default apt_conditions)
        var d = h.Data;
        long perFrame = d.Height / h.Model.VaeSpatialFactor / c.PatchSize.H * (d.Width / h.Model.VaeSpatialFactor / c.PatchSize.W);
        long videoTokens = ((d.Frames - 1) / arch.VaeTemporal + 1) * perFrame;
        long tokens = videoTokens + (1 + arch.MotionLatentFrames) * perFrame;
        // the D step (3 graphs over the blocks D runs, R1's perturbed real among them): every block's float32 input,
        // one block's intermediates and its audio cross-attention on the video tokens
        int graphs = 2 + (cfg.Apt.Video.R1Lambda > 0 ? 1 : 0);
        long inner = tokens * MemoryPlan.BlockIntermediateBytesPerToken(c) + videoTokens * MemoryPlan.AudioCrossAttentionBytesPerToken(c);
        var act = video.Lines[^1];
        Assert.Contains($"D step ({graphs} D graphs, 1 sample(s) x {tokens} tokens ({videoTokens} video + {tokens - videoTokens} reference/motion, audio cross-attention))", act.Item);
        Assert.Equal(graphs * plan.DBlocksRun * tokens * MemoryPlan.CheckpointBytesPerToken(c) + inner, act.Bytes);
        Assert.Equal(graphs * plan.DBlocksRun * inner, act.BytesWithoutCheckpointing);
        // pose (ratio 0.5): the heatmaps once, one pose-guider graph per D graph (G's step runs through a frozen D)
        Assert.Equal(MemoryPlan.PoseHeatmapBytes(arch, 1, d.Frames, d.Height, d.Width) + graphs * MemoryPlan.PoseGuiderBytes(arch, 1, d.Frames, d.Height, d.Width, 2),
            video.Lines[^2].Bytes);
        Assert.Equal(MemoryPlan.PoseBytes(arch, 1, d.Frames, d.Height, d.Width, 2),
            MemoryPlan.PoseHeatmapBytes(arch, 1, d.Frames, d.Height, d.Width) + MemoryPlan.PoseGuiderBytes(arch, 1, d.Frames, d.Height, d.Width, 2));

        var image = plan.Phases.Single(p => p.Name == "APT image phase");                          // one latent frame
        Assert.Contains($"{cfg.Apt.Image.MicroBatch} sample(s) x {perFrame + tokens - videoTokens} tokens ({perFrame} video", image.Lines[^1].Item);
        var cd = plan.Phases.Single(p => p.Name == "distill (CD)");                                 // its segment steps
        Assert.Contains($"{cfg.Distill.Batch / n} sample(s) x {tokens} tokens", cd.Lines[^1].Item);
        Assert.Equal(2 * 4 * Share(G), cd.Lines[2].Bytes);                                          // AdamW: two states

        // reference and motion off: the video tokens alone
        h.AptConditions.Reference = 0;
        h.AptConditions.Motion = 0;
        var videoOnly = new MemoryPlan(cfg, n).Phases.Single(p => p.Name == "APT video phase").Lines[^1];
        Assert.Contains($"1 sample(s) x {videoTokens} tokens ({videoTokens} video, audio cross-attention)", videoOnly.Item);
    }

    // the figure a comment of the config states: the number in `pattern` (one group)
    private static string Stated(string pattern)
    {
        var m = Regex.Match(File.ReadAllText(TestPaths.Config(Release)), pattern);
        Assert.True(m.Success, $"{Release}: no '{pattern}' in its comments");
        return m.Groups[1].Value + " GB";
    }

    [Fact]
    public void Release_config_fits_8_gpus_under_fsdp_not_ddp_as_its_comment_says()
    {
        var cfg = Load(Release);
        Assert.Equal(8, cfg.Apt.WorldSize);
        Assert.Equal(AptLab.Training.Precision.Bf16Mixed, cfg.TrainingPrecision);
        var fsdp = new MemoryPlan(cfg, 8);
        Assert.True(fsdp.Fits(Gpu80), fsdp.Render(80));
        var video = fsdp.Phases.Single(p => p.Name == "APT video phase");
        Assert.Equal(video.Total, fsdp.Peak);
        Assert.Equal(Stated(@"(\d+\.\d\d) GB per GPU in the video phase"), MemoryPlan.Gb(video.Total));

        var ddp = new MemoryPlan(ConfigLoader.Parse<ExperimentConfig>(
            File.ReadAllText(TestPaths.Config(Release)).Replace("\nparallel: fsdp", "\nparallel: ddp"), "ddp.yaml"), 8);
        Assert.Equal(ParallelMode.Ddp, ddp.Parallel);
        output.WriteLine(ddp.Render(80));
        Assert.False(ddp.Fits(Gpu80));
        var ddpVideo = ddp.Phases.Single(p => p.Name == "APT video phase");
        Assert.Equal(ddpVideo.Total, ddp.Peak);
        Assert.Equal(Stated(@"ddp \(whole replicas\) would need (\d+\.\d\d) GB"), MemoryPlan.Gb(ddpVideo.Total));
        long G = ddp.Generator.Total;
        Assert.Equal(3 * 2 * G, ddpVideo.Lines.Single(l => l.Item.StartsWith("outside the trainer")).Bytes);   // teacher, CD student, image EMA
    }

    [Fact]
    public void Cli_prints_the_plan_refuses_one_gpu_and_names_every_kind()
    {
        var config = TestPaths.Config(Release);
        using var eight = RankProcess.Start(["plan", config, "--gpus", "8", "--gpu-memory", "80"], new Dictionary<string, string?>());
        using var one = RankProcess.Start(["plan", config, "--gpus", "1", "--gpu-memory", "80"], new Dictionary<string, string?>());
        using var other = RankProcess.Start(["plan", TestPaths.Config("demo.yaml")], new Dictionary<string, string?>());
        using var help = RankProcess.Start(["plan", "--help"], new Dictionary<string, string?>());
        foreach (var p in new[] { eight, one, other, help }) Assert.True(p.WaitForExit(TimeSpan.FromSeconds(180)), p.Describe("plan"));
        output.WriteLine(eight.Stdout);
        output.WriteLine(one.Stdout);

        var plan = new MemoryPlan(Load(Release), 8);
        Assert.True(eight.ExitCode == 0, eight.Describe("plan --gpus 8"));
        Assert.Equal(plan.Render(80).ReplaceLineEndings("\n").TrimEnd(), eight.Stdout.ReplaceLineEndings("\n").TrimEnd());
        foreach (var p in plan.Phases)
            Assert.Contains($"{"total per GPU",-78} {MemoryPlan.Gb(p.Total),10}", eight.Stdout);
        Assert.Contains($"fits: the largest phase (APT video phase) needs {MemoryPlan.Gb(plan.Peak)}", eight.Stdout);

        Assert.Equal(3, one.ExitCode);
        Assert.Contains("DOES NOT FIT: distill (CD)", one.Stdout);                             // the global CD batch of 8 on one GPU
        Assert.Contains($"{Load(Release).Distill.Batch} per GPU", one.Stdout);
        Assert.Contains("(1/1 each)", one.Stdout);
        var smallest = plan.WithGpus(1).SmallestFit(Gpu80);
        Assert.NotNull(smallest);
        Assert.Contains($"smallest number of GPUs that fits: {smallest}", one.Stdout);
        Assert.True(plan.WithGpus(smallest!.Value).Fits(Gpu80) && !plan.WithGpus(smallest.Value - 1).Fits(Gpu80));

        Assert.Equal(2, other.ExitCode);
        Assert.Contains($"the planner covers experiment: {string.Join(", ", MemoryPlan.Kinds)}", other.Stderr);
        Assert.Contains("apt-omnihuman", MemoryPlan.Kinds);
        Assert.True(help.ExitCode == 0, help.Describe("plan --help"));
        Assert.All(MemoryPlan.Kinds, k => Assert.Contains(k, help.Stdout));
    }

    /// <summary>human.from naming an omnihuman run that exists here (`latest` resolved as the run resolves it): the plan
    /// is the teacher that run trained (its recorded model and segments, this config's dtype and checkpointing), counted
    /// as that run's DiT; without such a run the config's own preset and data stand.</summary>
    [Fact]
    public void A_teacher_run_on_this_machine_is_planned_with_its_recorded_architecture_and_segments()
    {
        using var tmp = TestPaths.Temp();
        var study = Load("omnihuman-demo.yaml");
        var runs = tmp.File("omnihuman-demo");
        var run = Path.Combine(runs, "s0");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints"));
        File.WriteAllText(Path.Combine(run, "config.yaml"), ConfigLoader.ToYaml(study));
        File.WriteAllText(Path.Combine(run, "checkpoints", HumanModels.DitFile), "");   // a finished run's product (not opened)

        var absent = Load(Release);
        absent.Human!.From = Path.Combine(runs, "none");
        Assert.Null(MemoryPlan.AdoptTeacherRun(absent));
        Assert.Equal(("wan2.1-1.3b", 480), (absent.Human.Model.Preset, absent.Human.Data.Height));

        var cfg = Load(Release);
        cfg.Human!.From = Path.Combine(runs, "latest");
        Assert.Equal(Path.Combine(run, "config.yaml"), MemoryPlan.AdoptTeacherRun(cfg));
        var (m, d) = (study.Human!.Model, study.Human.Data);
        Assert.Equal((m.Preset, m.Dim, m.NumLayers, m.NumHeads, m.FfnDim), (cfg.Human.Model.Preset, cfg.Human.Model.Dim, cfg.Human.Model.NumLayers, cfg.Human.Model.NumHeads, cfg.Human.Model.FfnDim));
        Assert.Equal((d.Height, d.Width, d.Frames), (cfg.Human.Data.Height, cfg.Human.Data.Width, cfg.Human.Data.Frames));
        Assert.Equal(("bf16", true), (cfg.Human.Model.Dtype, cfg.Human.Model.GradientCheckpointing));   // the APT config's own
        cfg.Apt.HeadLayers = [];                                                              // the 1.3B recipe's blocks 12, 21, 29 are not in 4
        var plan = new MemoryPlan(cfg, 8);
        var studyPlan = new MemoryPlan(Load("omnihuman-demo.yaml"), 1);
        Assert.Equal(studyPlan.Generator.Total, plan.Generator.Total);                        // G = the DiT the study trains
        Assert.Contains($"(dim {m.Dim}, {m.NumLayers} blocks)", plan.Render(80));
        var frames = (d.Frames - 1) / 4 + 1;                                                   // the VAE's 4x temporal step
        Assert.Contains($"{frames}x{d.Height / m.VaeSpatialFactor}x{d.Width / m.VaeSpatialFactor} latents", plan.Render(80));
    }
}
