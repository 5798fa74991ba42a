using AptLab.Apt;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Tests.Distributed;
using AptLab.Tests.Experiments;
using AptLab.Torch.IO;
using AptLab.Training;
using AptLab.Wan;

namespace AptLab.Tests.Reliability;

/// <summary>
/// Diverged runs stop at once (docs/reliability.md#7-diverged-runs): every trainer checks its losses and gradient norm
/// before the update, a non-finite value stops the run with a message naming the stage, the step and the value (or, with
/// <c>nonfinite: skip</c>, drops the update and counts it, up to <c>max_nonfinite_skips</c>), and no checkpoint is ever
/// written with non-finite weights. On the old code each of these runs trained on NaN to the end and wrote NaN
/// checkpoints.
/// </summary>
public class NonFiniteTests
{
    private static ExperimentConfig Smoke(TempDir tmp, string kind, string name)
    {
        var cfg = DemoSmokeRun.LoadSmoke();
        (cfg.Results, cfg.Experiment, cfg.Name) = (tmp.Path, kind, name);
        return cfg;
    }

    [Fact]
    public void The_guard_names_stage_step_and_value_and_bounds_the_skips()
    {
        var stop = new NonFiniteGuard("distill");
        Assert.True(stop.Allows(1, ("loss", 0.5), ("grad_norm", 3e38)));
        var e = Assert.Throws<NonFiniteException>(() => stop.Allows(7, ("loss", 0.5), ("grad_norm", double.PositiveInfinity)));
        Assert.StartsWith("distill step 7: grad_norm is inf; the run diverged", e.Message);

        var said = new StringWriter();
        var skip = new NonFiniteGuard("apt_image", NonFiniteMode.Skip, maxSkips: 2, output: said);
        Assert.False(skip.Allows(3, ("loss_d", double.NaN)));
        Assert.True(skip.Allows(4, ("loss_d", 1)));
        Assert.False(skip.Allows(5, ("loss_g", double.NegativeInfinity)));
        Assert.Equal(2, skip.Skipped);
        Assert.Contains("[apt_image] step 5: loss_g is -inf; update skipped (2 of at most 2)", said.ToString());
        e = Assert.Throws<NonFiniteException>(() => skip.Allows(6, ("loss_d", double.NaN)));
        Assert.Contains("apt_image step 6: loss_d is nan; 3 non-finite steps skipped, more than max_nonfinite_skips (2)", e.Message);
        Assert.Equal(0, new NonFiniteGuard("vae", NonFiniteMode.Skip, maxSkips: 0).MaxSkips);
        var bad = Assert.Throws<ArgumentException>(() => new NonFiniteGuard("vae", NonFiniteMode.Skip, maxSkips: -1));
        Assert.Equal("max_nonfinite_skips must be >= 0, got -1", bad.Message);
    }

    [Fact]
    public void A_diverging_vae_or_teacher_learning_rate_stops_the_stage_and_writes_no_checkpoint_of_it()
    {
        using var tmp = TestPaths.Temp();
        var vae = Smoke(tmp, "teacher", "vae-lr");
        vae.Vae.Lr = 1e30;
        var e = Assert.Throws<NonFiniteException>(() => ExperimentKinds.Launch(vae, null, "x", TextWriter.Null));
        Assert.Matches(@"^vae step \d+: (loss|grad_norm) is (nan|inf|-inf)", e.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(tmp.Path, "vae-lr", "x", "checkpoints")));

        var teacher = Smoke(tmp, "teacher", "teacher-lr");
        teacher.Teacher.Lr = 1000;
        teacher.Teacher.Steps = 30;
        e = Assert.Throws<NonFiniteException>(() => ExperimentKinds.Launch(teacher, null, "x", TextWriter.Null));
        Assert.Matches(@"^teacher step \d+: (loss|grad_norm) is (nan|inf|-inf)", e.Message);
        var checkpoints = Path.Combine(tmp.Path, "teacher-lr", "x", "checkpoints");
        Assert.True(File.Exists(Path.Combine(checkpoints, "vae.safetensors")));                  // the VAE finished before
        Assert.False(File.Exists(Path.Combine(checkpoints, "foundation.safetensors")));
    }

    [Fact]
    public void Aptlab_run_with_a_diverging_distill_lr_stops_with_one_error_line()
    {
        using var tmp = TestPaths.Temp();
        var config = tmp.File("diverge.yaml");
        File.WriteAllText(config, $"base: {Path.Combine(TestPaths.Repo, "configs", "demo-smoke.yaml")}\nresults: {tmp.File("results")}\n" +
            $"text: {{tokenizer: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}}}\ndistill: {{lr: 1.0e30}}\n");
        using var p = RankProcess.Start(["run", config, "--run-id", "x"], new Dictionary<string, string?>());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(4)), p.Describe("aptlab run"));              // hang guard
        Assert.True(p.ExitCode == 2, p.Describe("aptlab run"));
        var error = Assert.Single(p.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches(@"^error: distill step \d+: (loss|grad_norm) is (nan|inf|-inf)[^;]*; the run diverged", error);
        var checkpoints = Path.Combine(tmp.File("results"), "demo-smoke", "x", "checkpoints");
        Assert.True(File.Exists(Path.Combine(checkpoints, "foundation.safetensors")));
        Assert.False(File.Exists(Path.Combine(checkpoints, "cd.safetensors")));
    }

    // ---- skip mode in the trainers: a batch of NaN at one step ----

    private static readonly WanConfig Tiny = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    private static WanFlowModel Model(ulong seed)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Tiny));
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    private static (Tensor x, Conditioning c) Batch(int size, Generator g, bool poisoned)
    {
        var x = torch.randn([size, 16, 1, 4, 4], generator: g) * 0.5;
        var c = new Conditioning(torch.randn([size, 5, Tiny.TextDim], generator: g));
        return (poisoned ? x * double.NaN : x, c);
    }

    private static float[] Flat(AptLab.Torch.nn.Module m) =>
        m.state_dict().Values.SelectMany(t => t.to(ScalarType.Float32).reshape(-1).data<float>().ToArray()).ToArray();

    [Fact]
    public void Apt_skips_a_nonfinite_discriminator_update_in_skip_mode_and_stops_in_stop_mode()
    {
        using var scope = torch.NewScope();
        var settings = new AptPhaseSettings { Updates = 3, MicroBatch = 2, Lr = 1e-4 };
        RealBatch Data(long update, int micro, Generator g)
        {
            var (x, c) = Batch(2, g, poisoned: update == 1);                     // the second update's real batch is NaN
            return new RealBatch(x, c);
        }

        using var g1 = Model(1);
        using var d1 = new Discriminator(Model(2));
        using (var skip = new AptTrainer(g1, d1, settings, 5, Data))
        {
            skip.NonFinite = new NonFiniteGuard("apt_image", NonFiniteMode.Skip, maxSkips: 1);
            skip.Update().Dispose();
            var dBefore = Flat(d1);
            var gBefore = Flat(g1.Module);
            using (var stats = skip.Update())
            {
                Assert.Equal(1, stats.Skipped);
                Assert.Equal(1, stats.Scalars("apt_image")["apt_image/skipped_steps"]);
            }
            Assert.Equal(dBefore, Flat(d1));                                      // D's update was dropped
            Assert.NotEqual(gBefore, Flat(g1.Module));                            // G's (finite) update was applied
            skip.Update().Dispose();
            Assert.Equal(3, skip.Step);
            Assert.Empty(Finite.NonFiniteNames(skip.StateDict()));
        }

        using var g2 = Model(1);
        using var d2 = new Discriminator(Model(2));
        using var stop = new AptTrainer(g2, d2, settings, 5, Data);
        stop.Update().Dispose();
        var e = Assert.Throws<NonFiniteException>(() => stop.Update());
        Assert.StartsWith("apt_image step 2: loss_d is nan", e.Message);
        Assert.Equal(1, stop.Step);
    }

    [Fact]
    public void Consistency_distillation_counts_skipped_steps_in_the_metrics_and_stops_past_the_bound()
    {
        using var tmp = TestPaths.Temp();
        var cfg = Smoke(tmp, "distill", "cd-skip");
        cfg.Distill.Steps = 4;
        cfg.Nonfinite = NonFiniteMode.Skip;
        cfg.MaxNonfiniteSkips = 1;
        using var teacher = Model(1);
        var run = RunDirectory.Create(tmp.Path, "cd-skip", "a");
        using (var ctx = new RunContext(cfg, run, TextWriter.Null))
        {
            using var student = (WanFlowModel)teacher.Copy();
            CdStage.Train(ctx, student, teacher, (step, size, g) => { var (x, c) = Batch(size, g, step == 2); return new CdStage.Batch(x, c); },
                c => new Conditioning(torch.zeros_like(c.Context)));
            Assert.Empty(Finite.NonFiniteNames(student.Module.state_dict()));
        }
        var metrics = MetricsCsv.Read(run.MetricsCsv);
        Assert.Equal(new long[] { 1, 3, 4 }, metrics.Series("cd/loss").Steps);
        Assert.Equal(new long[] { 2 }, metrics.Series("cd/skipped_steps").Steps);
        Assert.Equal(new double[] { 1 }, metrics.Series("cd/skipped_steps").Values);

        using var ctx2 = new RunContext(cfg, RunDirectory.Create(tmp.Path, "cd-skip", "b"), TextWriter.Null);
        using var student2 = (WanFlowModel)teacher.Copy();
        var e = Assert.Throws<NonFiniteException>(() => CdStage.Train(ctx2, student2, teacher,
            (step, size, g) => { var (x, c) = Batch(size, g, step >= 2); return new CdStage.Batch(x, c); },
            c => new Conditioning(torch.zeros_like(c.Context))));
        Assert.Matches(@"^distill step 3: loss is nan.*; 2 non-finite steps skipped, more than max_nonfinite_skips \(1\)", e.Message);
    }

    [Fact]
    public void A_checkpoint_with_nonfinite_weights_is_refused_and_the_previous_one_stays_byte_identical()
    {
        using var tmp = TestPaths.Temp();
        using var scope = torch.NewScope();
        var state = new Dictionary<string, Tensor> { ["blocks.0.weight"] = torch.randn(8, 8), ["head.weight"] = torch.randn(4, 8) };
        var path = Checkpoints.Save(tmp.Path, "apt_image", 2, state);
        var before = File.ReadAllBytes(path);
        state["head.weight"] = state["head.weight"] / 0.0;                              // inf and (0/0) nan
        var e = Assert.Throws<NonFiniteException>(() => Checkpoints.Save(tmp.Path, "apt_image", 2, state));
        Assert.Equal($"refusing to write {path}: 1 tensor holds NaN or inf values (head.weight)", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(tmp.Path));                                    // no temporary file either
        Assert.Throws<NonFiniteException>(() => Checkpoints.Save(tmp.Path, "apt_image", 4, state));
        Assert.False(File.Exists(Checkpoints.PathFor(tmp.Path, "apt_image", 4)));
    }

    [Fact]
    public void Settings_built_in_code_refuse_nan_and_infinite_numbers()
    {
        Assert.Contains("lr_generator must be a finite number", Assert.Throws<ArgumentException>(() => new AptPhaseSettings { Lr = double.PositiveInfinity }.Validate()).Message);
        Assert.Contains("rms_eps must be a finite number", Assert.Throws<ArgumentException>(() => new AptPhaseSettings { RmsEps = double.NaN }.Validate()).Message);
        Assert.Contains("Lr: must be a finite number", Assert.Throws<ArgumentException>(() =>
            new AptLab.Avatar.Training.AvatarTrainerSettings { Lr = double.PositiveInfinity }.Validate()).Message);
        Assert.Contains("MaxGradNorm: must be a finite number", Assert.Throws<ArgumentException>(() =>
            new AptLab.Avatar.Training.AvatarTrainerSettings { MaxGradNorm = double.PositiveInfinity }.Validate()).Message);
        var cfg = DemoSmokeRun.LoadSmoke();
        cfg.Distill.Lr = double.PositiveInfinity;
        Assert.Contains("'distill.lr': must be a finite number, got .inf",
            Assert.Throws<AptLab.Config.ConfigException>(() => cfg.Distill.Validate("distill", "c.yaml")).Message);
        cfg.Teacher.Lr = double.PositiveInfinity;
        Assert.Throws<AptLab.Config.ConfigException>(() => cfg.Teacher.Validate("teacher", "c.yaml"));
        cfg.Vae.Lr = double.NaN;
        Assert.Throws<AptLab.Config.ConfigException>(() => cfg.Vae.Validate("vae", "c.yaml"));
    }
}

/// <summary>OmniAvatar fine-tuning: a step whose loss is NaN stops the trainer before the update, naming the step; in skip
/// mode the update is dropped (the trainable weights stay as they were) and counted.</summary>
[Collection("AvatarTraining")]
public class AvatarNonFiniteTests(AptLab.Tests.Avatar.Training.AvatarTrainingFixture fx)
{
    [Fact]
    public void Finetuning_stops_at_a_nonfinite_loss_or_skips_it_in_skip_mode()
    {
        var a = fx.Config(steps: 3, microBatch: 1).Avatar!;
        var (dit, _, trainer, source) = fx.Build(a);
        using var _dit = dit;
        using var _trainer = trainer;
        AptLab.Avatar.Data.AvatarBatch Poisoned(int step, int micro)
        {
            var b = source.Get(step, micro);
            return b with { Latents = b.Latents * double.NaN };
        }
        trainer.TrainStep(source.Get);
        var e = Assert.Throws<NonFiniteException>(() => trainer.TrainStep(Poisoned));
        Assert.StartsWith("avatar step 2: loss is nan", e.Message);
        Assert.Equal(1, trainer.Step);

        trainer.NonFinite = new NonFiniteGuard("avatar", NonFiniteMode.Skip, maxSkips: 1);
        float[] Weights() => trainer.Trainable.SelectMany(t => t.parameter.detach().reshape(-1).data<float>().ToArray()).ToArray();
        var before = Weights();
        var stats = trainer.TrainStep(Poisoned);
        Assert.Equal(1, stats.Skipped);
        Assert.Equal(1, stats.Scalars()["train/skipped_steps"]);
        Assert.Equal(before, Weights());
        Assert.Equal(2, trainer.Step);
        trainer.TrainStep(source.Get);
        Assert.NotEqual(before, Weights());
    }
}
