using AptLab.Config;
using AptLab.Experiments;
using AptLab.Experiments.Human;
using AptLab.Human;
using AptLab.Human.Training;
using AptLab.Logging;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Human;

/// <summary>
/// configs/omnihuman-train-tiny-bf16.yaml (experiment: omnihuman, precision: bf16-mixed, LoRA) through the experiment
/// runner (docs/precision-and-parallelism.md, docs/omnihuman.md#training):
/// <list type="bullet">
/// <item>the DiT computes in bf16 while the trainer checkpoints hold float32 masters for exactly the trainable set
/// (LoRA, the added parts, the patch embedding) and float32 AdamW moments, and the masters are not bf16 values (a
/// trainer stepping bf16 storage would write bf16, or bf16 values widened);</item>
/// <item>every group of trainable tensors moves, the frozen base never enters the checkpoint, and the products are
/// bf16 (LoRA folded in) with the widened model's keys;</item>
/// <item>a copy of the run cut back to its step-2 checkpoint (stage 1's end) and resumed ends with bit-identical masters,
/// optimizer state and generator state at step 6, and metrics.csv equal to the uninterrupted run's row for row (the
/// interrupted attempt's later rows are dropped, not repeated).</item>
/// </list>
/// </summary>
public class HumanBf16MixedTests(ITestOutputHelper output)
{
    private static ExperimentConfig Load(string results)
    {
        var path = Path.Combine(TestPaths.Repo, "configs", "omnihuman-train-tiny-bf16.yaml");
        var cfg = ConfigLoader.Load<ExperimentConfig>(path);
        ExperimentPaths.Resolve(cfg, ExperimentPaths.BaseOf(path));
        cfg.Results = results;
        return cfg;
    }

    [Fact]
    public void Tiny_fine_tune_keeps_float32_masters_moves_every_group_and_resumes_bit_for_bit()
    {
        using var tmp = TestPaths.Temp();
        var cfg = Load(tmp.File("results"));
        Assert.Equal(AptLab.Training.Precision.Bf16Mixed, cfg.TrainingPrecision);
        var log = new StringWriter();
        var run = ExperimentKinds.Launch(cfg, null, "straight", log);
        Assert.Contains("precision bf16-mixed, parallel ddp", log.ToString());
        var ck = Path.Combine(run.Checkpoints, "omnihuman-step-{0:D6}.safetensors");

        // the checkpoints: float32 masters of the trainable set, float32 AdamW moments
        using var c2 = Checkpoint.Load(string.Format(ck, 2));
        using var c6 = Checkpoint.Load(string.Format(ck, 6));
        var masters = c6.Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value);
        Assert.All(masters, kv => Assert.True(HumanTrainableParameters.IsTrainable(kv.Key, "lora"), $"{kv.Key} is frozen but checkpointed"));
        Assert.All(masters, kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));
        var moments = c6.Where(kv => kv.Key.StartsWith("optimizer.state.") && (kv.Key.EndsWith(".exp_avg") || kv.Key.EndsWith(".exp_avg_sq"))).ToList();
        Assert.True(moments.Count >= masters.Count, $"{moments.Count} AdamW moments for {masters.Count} trained tensors");
        Assert.All(moments, kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));

        // every group moved between steps 2 and 6, and the moved masters are float32 values, not bf16 ones
        using var scope = torch.NewScope();
        var moved = new Dictionary<string, double>();
        long n = 0, notBf16 = 0;
        foreach (var (k, v) in masters)
        {
            var before = c2["model." + k];
            var g = HumanTrainableParameters.Group(k);
            moved[g] = Math.Max(moved.GetValueOrDefault(g), (v - before).abs().max().item<double>());
            var changed = v.ne(before);
            n += changed.sum().item<long>();
            notBf16 += changed.logical_and(v.ne(v.to(ScalarType.BFloat16).to(ScalarType.Float32))).sum().item<long>();
        }
        output.WriteLine($"largest master change from step 2 to 6 per group: {string.Join(", ", moved.Select(kv => $"{kv.Key} {kv.Value:G3}"))}; " +
                         $"{notBf16} of {n} changed master elements are not bf16 values");
        Assert.Equal(["audio", "lora", "patch_embedding", "pose"], moved.Keys.Order());
        // Adam moves a weight with a gradient by ~lr (1e-3) per step; weight decay alone by lr·wd·|w| (~1e-5): pose
        // (stage 3 only, behind zero pose channels) may have had no gradient yet
        Assert.All(moved, kv => Assert.True(kv.Value > (kv.Key == "pose" ? 0 : 1e-4), $"{kv.Key} moved by {kv.Value:G3} only"));
        Assert.All(MetricsCsv.Read(run.MetricsCsv).Series("train/grad_norm").Values, v => Assert.True(double.IsFinite(v) && v > 0, $"grad norm {v}"));
        Assert.True(n > 1000 && notBf16 > 0.9 * n, $"only {notBf16} of {n} changed masters are off the bf16 grid");

        // the products: bf16, LoRA folded in, the model's keys
        using var product = Checkpoint.Load(Path.Combine(run.Checkpoints, HumanModels.DitFile));
        Assert.All(product.Values, v => Assert.Equal(ScalarType.BFloat16, v.dtype));
        Assert.DoesNotContain(product.Keys, AptLab.Torch.nn.Lora.IsLoraKey);
        Assert.Equal(ScalarType.BFloat16, product["audio_proj.0.weight"].dtype);
        Assert.Equal(masters["audio_proj.0.weight"].to(ScalarType.BFloat16).data<ushort>(), product["audio_proj.0.weight"].data<ushort>());   // bf16(master)
        using (var stage1 = OmniHumanWeights.Load(Path.Combine(run.Checkpoints, "omnihuman_stage1.safetensors")))
            Assert.Equal(product.Keys.Order(), stage1.state_dict().Keys.Order());

        // the run cut back to step 2 (stage 1 finished, its product kept), then resumed
        var copy = Path.Combine(tmp.File("results"), cfg.Name, "resumed");
        CopyDir(run.Root, copy);
        foreach (var f in Directory.GetFiles(Path.Combine(copy, "checkpoints")))
        {
            var name = Path.GetFileName(f);
            if (name is "omnihuman-step-000002.safetensors" or "omnihuman_stage1.safetensors" or HumanModels.EncodersFile) continue;
            File.Delete(f);
        }
        var resumeLog = new StringWriter();
        ExperimentKinds.Launch(Load(tmp.File("results")), copy, null, resumeLog);
        Assert.Contains("[train] resumed from step 2", resumeLog.ToString());
        using var r6 = Checkpoint.Load(Path.Combine(copy, "checkpoints", "omnihuman-step-000006.safetensors"));
        Assert.Equal(c6.Keys.Order(), r6.Keys.Order());
        foreach (var (k, v) in c6)
        {
            Assert.Equal(v.dtype, r6[k].dtype);
            Assert.True(v.shape.SequenceEqual(r6[k].shape), k);
            Assert.True(v.to(ScalarType.Float64).ne(r6[k].to(ScalarType.Float64)).sum().item<long>() == 0, $"{k} differs after the resume");
        }
        var straight = MetricsCsv.Read(run.MetricsCsv);
        var resumed = MetricsCsv.Read(Path.Combine(copy, "metrics.csv"));
        foreach (var tag in straight.Tags.Where(t => t.StartsWith("train/")))
        {
            Assert.Equal(straight.Series(tag).Steps, resumed.Series(tag).Steps);
            Assert.Equal(straight.Series(tag).Values, resumed.Series(tag).Values);
        }
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyDir(d, Path.Combine(to, Path.GetFileName(d)));
    }
}
