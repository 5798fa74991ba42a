using AptLab.Config;
using AptLab.Experiments;
using AptLab.Logging;

namespace AptLab.Tests.Distributed;

/// <summary>The demo study under `aptlab launch --nproc 2` (configs/demo-smoke.yaml) against one process at the same
/// effective batch (APT micro-batches doubled). The VAE, teacher and CD stages run alike on every rank and are then
/// replaced by rank 0's weights, so both runs enter APT with identical models; each rank then trains on its half of
/// the global micro-batch with averaged gradients. The APT losses, logits and gradient norms agree up to float32
/// rounding (RMSprop amplifies it), while a wrong shard or a missing gradient average differs at O(0.1).</summary>
public class DemoLaunchTests
{
    [Fact]
    public void The_demos_apt_phases_on_two_ranks_match_one_process_at_the_same_effective_batch()
    {
        using var tmp = TestPaths.Temp();
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "demo-smoke.yaml"));
        cfg.Results = Path.Combine(tmp.Path, "results");
        cfg.Text.Tokenizer = Path.Combine(TestPaths.Repo, cfg.Text.Tokenizer);
        var yaml = tmp.File("smoke.yaml");
        File.WriteAllText(yaml, ConfigLoader.ToYaml(cfg));
        using var launch = RankProcess.Start(["launch", "--nproc", "2", "--master-port", RankProcess.FreePort().ToString(), "--timeout", "60",
            "run", yaml, "--run-id", "two"], new Dictionary<string, string?> { ["APTLAB_THREADS"] = torch.get_num_threads().ToString() });   // bit-identical needs the same thread count

        cfg.Apt.Image = cfg.Apt.Image with { MicroBatch = 2 * cfg.Apt.Image.MicroBatch };
        cfg.Apt.Video = cfg.Apt.Video with { MicroBatch = 2 * cfg.Apt.Video.MicroBatch };
        var one = ExperimentKinds.Launch(cfg, null, "one", TextWriter.Null);
        Assert.True(launch.WaitForExit(TimeSpan.FromSeconds(240)), launch.Describe("launch"));
        Assert.True(launch.ExitCode == 0, launch.Describe("launch"));

        var a = MetricsCsv.Read(Path.Combine(cfg.Results, cfg.Name, "two", "metrics.csv"));
        var b = MetricsCsv.Read(one.MetricsCsv);
        var tags = b.Tags.Where(t => t.StartsWith("apt_") && !t.EndsWith("samples_per_s") && !t.EndsWith("/lr")).ToList();
        Assert.Contains("apt_image/loss_d", tags);
        Assert.Contains("apt_video/loss_g", tags);
        Assert.Equal(b.Series("teacher/loss").Values, a.Series("teacher/loss").Values);     // rank 0 logs what one process computes
        MetricsAgreement.Assert(a, b, tags);
    }
}
