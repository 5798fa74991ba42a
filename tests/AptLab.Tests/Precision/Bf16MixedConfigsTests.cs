using AptLab.Config;
using AptLab.Experiments;
using AptLab.Experiments.Avatar;
using AptLab.Logging;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Precision;

/// <summary>
/// The tiny configs in bf16-mixed, end to end on CPU through the experiment runner: configs/apt-wan2.1-tiny.yaml (CD,
/// image phase, video phase on a bf16 Wan "release"), configs/apt-omniavatar-tiny-bf16.yaml and
/// configs/apt-omnihuman-tiny-bf16.yaml (the same for OmniAvatar and OmniHuman)
/// and configs/omniavatar-train-tiny-bf16.yaml (the fine-tune). What each checks:
/// <list type="bullet">
/// <item>the checkpoints hold float32 masters and float32 optimizer states (a trainer stepping the bf16 compute copies
/// would write bf16), and the products are float32;</item>
/// <item>the EMA moves at decay 0.995: between the image phase's checkpoints of updates 2 and 3 the EMA is exactly
/// 0.995 ema + 0.005 G in float32 on the float32 masters, while a bf16 shadow would have kept most of its elements
/// (their increment is below half a bf16 ulp);</item>
/// <item>the fine-tune's trained masters are float32 and moved, its export is bf16(master).</item>
/// </list>
/// </summary>
public class Bf16MixedConfigsTests(ITestOutputHelper output)
{
    private static ExperimentConfig Load(string name, string results)
    {
        var path = Path.Combine(TestPaths.Repo, "configs", name);
        var cfg = ConfigLoader.Load<ExperimentConfig>(path);
        ExperimentPaths.Resolve(cfg, ExperimentPaths.BaseOf(path));
        cfg.Results = results;
        return cfg;
    }

    // ema3 = ema2 + (1 - decay) (g3 - ema2) in float32, element by element; returns (moved fraction, fraction a bf16
    // shadow would have kept)
    private (double moved, double bf16Stuck) CheckEma(string checkpoints, string phase, double decay)
    {
        using var c2 = Checkpoint.Load(Path.Combine(checkpoints, $"{phase}-step-000002.safetensors"));
        using var c3 = Checkpoint.Load(Path.Combine(checkpoints, $"{phase}-step-000003.safetensors"));
        long n = 0, moved = 0, stuck = 0;
        foreach (var k in c3.Keys.Where(k => k.StartsWith("ema.")))
        {
            using var scope = torch.NewScope();
            var (e2, e3, g3) = (c2[k], c3[k], c3["generator." + k[4..]]);
            Assert.Equal(ScalarType.Float32, e3.dtype);
            Assert.Equal(ScalarType.Float32, g3.dtype);                                            // the master, not the bf16 copy
            var expected = e2.to(ScalarType.Float64) + (g3.to(ScalarType.Float64) - e2.to(ScalarType.Float64)) * (1 - decay);
            double err = (e3.to(ScalarType.Float64) - expected).abs().max().item<double>();
            double scale = e2.abs().max().item<double>();
            Assert.True(err <= 1e-6 * Math.Max(scale, 1e-3), $"{k}: EMA off 0.995 ema + 0.005 G by {err:G3} (scale {scale:G3})");
            n += e3.numel();
            moved += e3.ne(e2).sum().item<long>();
            stuck += expected.to(ScalarType.BFloat16).eq(e2.to(ScalarType.BFloat16)).sum().item<long>();
        }
        Assert.True(n > 0);
        return ((double)moved / n, (double)stuck / n);
    }

    private static void CheckMasters(string checkpoint)
    {
        using var c = Checkpoint.Load(checkpoint);
        foreach (var (k, v) in c.Where(kv => kv.Key.StartsWith("generator.") || kv.Key.StartsWith("discriminator.") || kv.Key.EndsWith(".square_avg")))
            Assert.True(v.dtype == ScalarType.Float32, $"{checkpoint}: {k} is {v.dtype}");
        Assert.Contains(c.Keys, k => k.StartsWith("opt_g.state.") && k.EndsWith(".square_avg"));
    }

    private void AptRun(string config, Action<ExperimentConfig>? change = null)
    {
        using var tmp = TestPaths.Temp();
        var cfg = Load(config, tmp.File("results"));
        change?.Invoke(cfg);
        Assert.Equal(AptLab.Training.Precision.Bf16Mixed, cfg.TrainingPrecision);
        var log = new StringWriter();
        var run = ExperimentKinds.Launch(cfg, null, "bf16", log);
        Assert.Contains("precision bf16-mixed", log.ToString());
        var m = MetricsCsv.Read(run.MetricsCsv);
        Assert.All(m.Series("cd/loss").Values, v => Assert.True(double.IsFinite(v) && v > 0));
        foreach (var phase in new[] { "apt_image", "apt_video" })
            foreach (var tag in new[] { "loss_d", "loss_g", "r1", "grad_norm_d", "grad_norm_g" })
                Assert.All(m.Series($"{phase}/{tag}").Values, v => Assert.True(double.IsFinite(v) && (!tag.StartsWith("grad") || v > 0), $"{phase}/{tag} {v}"));
        foreach (var product in new[] { "cd", "apt_image_ema", "apt_video_ema" })
        {
            using var p = Checkpoint.Load(Path.Combine(run.Checkpoints, product + ".safetensors"));
            Assert.All(p.Values, v => Assert.Equal(ScalarType.Float32, v.dtype));
        }
        CheckMasters(Path.Combine(run.Checkpoints, "apt_image-step-000003.safetensors"));
        var (moved, stuck) = CheckEma(run.Checkpoints, "apt_image", cfg.Apt.Image.EmaDecay);
        output.WriteLine($"{config}: the EMA (decay {cfg.Apt.Image.EmaDecay}) moved {moved:P1} of its elements in update 3; a bf16 shadow would have kept {stuck:P1}");
        Assert.True(moved > 0.9, $"only {moved:P1} of the EMA moved");
        Assert.True(stuck > 0.5, $"a bf16 shadow would have moved too ({1 - stuck:P1}): the test would not tell float32 from bf16");
    }

    [Fact]
    public void Apt_wan_tiny_runs_in_bf16_mixed_and_the_ema_moves() => AptRun("apt-wan2.1-tiny.yaml");

    [Fact]
    public void Apt_omniavatar_tiny_runs_in_bf16_mixed_and_the_ema_moves() => AptRun("apt-omniavatar-tiny-bf16.yaml");

    [Fact]
    public void Apt_omnihuman_tiny_runs_in_bf16_mixed_and_the_ema_moves() => AptRun("apt-omnihuman-tiny-bf16.yaml");

    [Fact]
    public void Omniavatar_finetune_tiny_runs_in_bf16_mixed_with_float32_masters_and_a_bf16_export()
    {
        using var tmp = TestPaths.Temp();
        var cfg = Load("omniavatar-train-tiny-bf16.yaml", tmp.File("results"));
        var a = cfg.Avatar!;
        (a.Steps, a.CheckpointEvery, a.Data.Dir) = (4, 2, tmp.File("data"));
        Assert.Equal(AptLab.Training.Precision.Bf16Mixed, cfg.TrainingPrecision);
        var run = ExperimentKinds.Launch(cfg, null, "bf16", TextWriter.Null);
        Assert.All(MetricsCsv.Read(run.MetricsCsv).Series("train/loss").Values, v => Assert.True(double.IsFinite(v) && v > 0));
        using var c2 = Checkpoint.Load(Path.Combine(run.Checkpoints, "avatar-step-000002.safetensors"));
        using var c4 = Checkpoint.Load(Path.Combine(run.Checkpoints, "avatar-step-000004.safetensors"));
        using var export = Checkpoint.Load(Path.Combine(run.Root, AvatarFinetuneExperiment.ExportFolder, "pytorch_model.pt"));
        int n = 0;
        foreach (var (k, v) in c4.Where(kv => kv.Key.StartsWith("model.")))
        {
            Assert.Equal(ScalarType.Float32, v.dtype);
            var name = k["model.".Length..];
            Assert.Equal(ScalarType.BFloat16, export[name].dtype);
            Assert.Equal(v.to(ScalarType.BFloat16).data<ushort>(), export[name].data<ushort>());    // the export is bf16(master)
            n++;
        }
        Assert.True(n > 10);
        Assert.All(c4.Where(kv => kv.Key.StartsWith("optimizer.state.") && kv.Key.EndsWith("exp_avg")), kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));
        using var scope = torch.NewScope();
        double moved = c4.Keys.Where(k => k.StartsWith("model.")).Max(k => (c4[k] - c2[k]).abs().max().item<double>());
        Assert.True(moved > 0, "the trained masters did not move between steps 2 and 4");
    }
    [Fact]
    public void The_demo_teacher_stage_trains_in_bf16_mixed_with_float32_masters()
    {
        // demo-smoke's VAE + text encoder + teacher (experiment: teacher), once in fp32 and once in bf16-mixed, same seed
        using var tmp = TestPaths.Temp();
        var foundations = new Dictionary<string, Dictionary<string, Tensor>>();
        foreach (var precision in new[] { "fp32", "bf16-mixed" })
        {
            var cfg = Load("demo-smoke.yaml", tmp.File("results-" + precision));
            (cfg.Experiment, cfg.Precision) = ("teacher", precision);
            var run = ExperimentKinds.Launch(cfg, null, precision, TextWriter.Null);
            Assert.All(MetricsCsv.Read(run.MetricsCsv).Series("teacher/loss").Values, v => Assert.True(double.IsFinite(v) && v > 0));
            using var f = Checkpoint.Load(Path.Combine(run.Checkpoints, "foundation.safetensors"));
            foundations[precision] = f.Where(kv => kv.Key.StartsWith("teacher.") || kv.Key.StartsWith("text.")).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        }
        var (full, mixed) = (foundations["fp32"], foundations["bf16-mixed"]);
        Assert.Equal(full.Keys.Order(), mixed.Keys.Order());
        long n = 0, notBf16 = 0;
        double diff2 = 0, norm2 = 0;
        foreach (var (k, m) in mixed)
        {
            using var scope = torch.NewScope();
            Assert.Equal(ScalarType.Float32, m.dtype);                                // the masters, saved as float32
            n += m.numel();
            notBf16 += m.ne(m.to(ScalarType.BFloat16).to(ScalarType.Float32)).sum().item<long>();
            diff2 += (m.to(ScalarType.Float64) - full[k].to(ScalarType.Float64)).square().sum().item<double>();
            norm2 += full[k].to(ScalarType.Float64).square().sum().item<double>();
        }
        double rel = Math.Sqrt(diff2 / norm2);
        output.WriteLine($"bf16-mixed teacher: {notBf16}/{n} weights are not bf16 values (float32 masters); rel L2 vs fp32 {rel:E2}");
        Assert.True(notBf16 > 0.9 * n, "the weights are bf16 values: the optimizer stepped bf16 storage, not float32 masters");
        Assert.True(rel > 1e-6, "bf16-mixed equals fp32: the forward/backward did not run in bf16");
        Assert.True(rel < 2e-2, $"bf16-mixed departs from fp32 by {rel:E2}");
        foreach (var t in full.Values.Concat(mixed.Values)) t.Dispose();
    }
}
