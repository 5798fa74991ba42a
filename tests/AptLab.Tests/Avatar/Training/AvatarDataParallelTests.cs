using AptLab.Tests.Distributed;
using AptLab.Torch.IO;

namespace AptLab.Tests.Avatar.Training;

/// <summary>
/// `aptlab launch --nproc 2 run` of the avatar fine-tuning config (micro_batch 2 per rank), with whole replicas
/// (`parallel: ddp`) and fully sharded (`parallel: fsdp`: LoRA/audio masters, gradients and AdamW state as 1/2 shards),
/// against one process (micro_batch 4) on the fixture's clips: after 4 steps the ddp ranks hold bit-identical trainable
/// weights (the run checks it over the process group) and, in both modes, the exported weights equal the single
/// process's up to float32 summation order.
/// A wrong shard of the draws, a missing gradient average or a rank-dependent batch would differ at O(lr).
/// </summary>
[Collection("AvatarTraining")]
public class AvatarDataParallelTests(AvatarTrainingFixture fx)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData("ddp")]
    [InlineData("fsdp")]
    public void TwoRanksMatchOneProcessOnTheConcatenatedBatch(string parallel)
    {
        string dp2 = "dp2-" + parallel, dp1 = "dp1-" + parallel;
        File.WriteAllText(fx.Temp.File(dp2 + ".yaml"), fx.Yaml(dp2, steps: 4, microBatch: 2, extra: $"parallel: {parallel}"));
        File.WriteAllText(fx.Temp.File(dp1 + ".yaml"), fx.Yaml(dp1, steps: 4, microBatch: 4));
        using var launch = RankProcess.Start(
            ["launch", "--nproc", "2", "--master-port", RankProcess.FreePort().ToString(), "--timeout", "60",
             "run", fx.Temp.File(dp2 + ".yaml"), "--run-id", "r"], new Dictionary<string, string?>());
        using var single = RankProcess.Start(["run", fx.Temp.File(dp1 + ".yaml"), "--run-id", "r"], new Dictionary<string, string?>());
        Assert.True(launch.WaitForExit(Limit), launch.Describe("launch"));
        Assert.True(single.WaitForExit(Limit), single.Describe("single"));
        Assert.True(launch.ExitCode == 0, launch.Describe("launch"));
        Assert.True(single.ExitCode == 0, single.Describe("single"));
        if (parallel == "ddp")
            Assert.Contains("[rank 0] [check] trainable parameters of all 2 ranks: max |difference| from rank 0 = 0", launch.Stdout);
        Assert.Contains("effective batch 2 x 1 x 2 ranks", launch.Stdout);
        Assert.Contains("[encode] all 4 clips found", single.Stdout);

        var results = fx.Temp.File("results");
        using var two = Checkpoint.Load(Path.Combine(results, dp2, "r", "omniavatar", "pytorch_model.pt"));
        using var one = Checkpoint.Load(Path.Combine(results, dp1, "r", "omniavatar", "pytorch_model.pt"));
        // the checkpoint rank 0 wrote holds the exported weights
        using var ckpt = Checkpoint.Load(Path.Combine(results, dp2, "r", "checkpoints", "avatar-step-000004.safetensors"));
        var a = fx.Config(steps: 4, microBatch: 2).Avatar!;
        var (init, _) = AptLab.Experiments.Avatar.AvatarFinetuneModels.BuildDit(a, 0, TextWriter.Null);
        using var _i = init;
        var start = init.state_dict();
        Assert.Equal(one.Keys.OrderBy(k => k), two.Keys.OrderBy(k => k));
        // per tensor: ||2 ranks - 1 process|| / ||1 process - start||, the disagreement relative to the update (AdamW's
        // g / sqrt(v) turns float32 rounding in near-zero gradients into small differences; a wrong shard gives O(1))
        double worst = 0, moved = 0;
        foreach (var (k, v1) in one)
        {
            using var scope = torch.NewScope();
            Assert.Equal(0.0, (ckpt["model." + k] - two[k]).abs().max().item<double>());
            double update = (v1 - start[k]).norm().item<double>();
            Assert.True(update > 0, $"{k} did not move");
            worst = Math.Max(worst, (two[k] - v1).norm().item<double>() / update);
            moved = Math.Max(moved, (v1 - start[k]).abs().max().item<double>());
        }
        Console.WriteLine($"[avatar-dp] largest ||2 ranks - 1 process|| / ||update|| = {worst:G3}");
        Assert.True(worst < 1e-3, $"2 ranks vs 1 process: largest difference relative to the update {worst}");
        Assert.True(moved > 1e-3, $"training hardly moved the weights ({moved})");
    }
}
