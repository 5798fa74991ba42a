using AptLab.Config;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Tests.Distributed;
using AptLab.Experiments.Avatar;

namespace AptLab.Tests.Avatar.Apt;

/// <summary>`aptlab launch --nproc 2 run configs/apt-omniavatar-tiny.yaml`, with whole replicas (`parallel: ddp`) and
/// fully sharded (`parallel: fsdp`: G, D, their RMSprop states and the EMA held as 1/2 shards, blocks gathered just in
/// time, gradients reduce-scattered), against one in-process run at the same effective batch (micro_batch doubled):
/// each rank trains on half of the global micro-batch, so CD and the APT losses, logits and gradient norms agree up to
/// float32 rounding (RMSprop amplifies it a little; measured 3e-5 relative), while a rank training on the wrong shard,
/// without gradient averaging or with a stale gather differs at O(0.1).</summary>
public class AvatarAptLaunchTests
{
    [Theory]
    [InlineData("ddp")]
    [InlineData("fsdp")]
    public void Two_ranks_reproduce_one_process_at_the_same_effective_batch(string parallel)
    {
        using var tmp = TestPaths.Temp();
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "apt-omniavatar-tiny.yaml"));
        cfg.Results = Path.Combine(tmp.Path, "results");
        cfg.Omniavatar!.Data.TokenizerPath = Path.Combine(TestPaths.Repo, cfg.Omniavatar.Data.TokenizerPath);
        cfg.Parallel = parallel;
        var yaml = tmp.File("tiny.yaml");
        File.WriteAllText(yaml, ConfigLoader.ToYaml(cfg));
        cfg.Parallel = "ddp";                                         // the reference: one plain process
        using var launch = RankProcess.Start(["launch", "--nproc", "2", "--master-port", RankProcess.FreePort().ToString(), "--timeout", "60",
            "run", yaml, "--run-id", "two"], new Dictionary<string, string?>());

        cfg.Apt.Image = cfg.Apt.Image with { MicroBatch = 2 * cfg.Apt.Image.MicroBatch };
        cfg.Apt.Video = cfg.Apt.Video with { MicroBatch = 2 * cfg.Apt.Video.MicroBatch };
        var one = ExperimentKinds.Launch(cfg, null, "one", TextWriter.Null);
        Assert.True(launch.WaitForExit(TimeSpan.FromSeconds(120)), launch.Describe("launch"));
        Assert.True(launch.ExitCode == 0, launch.Describe("launch"));
        Assert.Contains("effective batch 8 (2 x 2 accumulated x 2 rank(s))", launch.Stdout);
        Assert.Contains($"[apt_video] precision fp32, parallel {parallel} over 2 rank(s)", launch.Stdout);

        var a = MetricsCsv.Read(Path.Combine(cfg.Results, cfg.Name, "two", "metrics.csv"));
        var b = MetricsCsv.Read(one.MetricsCsv);
        var tags = b.Tags.Where(t => t == "cd/loss" || (t.StartsWith("apt_") && !t.EndsWith("samples_per_s") && !t.EndsWith("/lr") && !t.StartsWith("time/"))).ToList();
        Assert.Contains("apt_video/loss_g", tags);
        MetricsAgreement.Assert(a, b, tags);
        Assert.True(File.Exists(Path.Combine(cfg.Results, cfg.Name, "two", AvatarAptExperiment.Export)));
    }
}
