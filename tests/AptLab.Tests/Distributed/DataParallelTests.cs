using AptLab.Examples;
using AptLab.Torch.IO;

namespace AptLab.Tests.Distributed;

/// <summary>Two ranks of `aptlab dist-selftest` under `aptlab launch` train a small MLP data-parallel (rank batch 8
/// in 2 micro-batches under no_sync, small gradient buckets, different initial weights per rank); one process
/// trains the same model on the whole global batch of 16. The parameters must agree.</summary>
public class DataParallelTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public void TwoRanksEqualOneProcessOnTheConcatenatedBatch()
    {
        using var tmp = TestPaths.Temp();
        string[] common = ["dist-selftest", "--mode", "train", "--steps", "8", "--batch", "16", "--seed", "3"];
        using var launch = RankProcess.Start(
            ["launch", "--nproc", "2", "--master-port", RankProcess.FreePort().ToString(), "--timeout", "20",
             .. common, "--accum", "2", "--bucket-bytes", "2048", "--out", tmp.File("rank{rank}.safetensors"),
             "--checkpoint", tmp.File("checkpoint.safetensors")],
            new Dictionary<string, string?>());
        using var single = RankProcess.Start([.. common, "--out", tmp.File("single.safetensors")], new Dictionary<string, string?>());
        Assert.True(launch.WaitForExit(Limit), launch.Describe("launch"));
        Assert.True(single.WaitForExit(Limit), single.Describe("single"));
        Assert.True(launch.ExitCode == 0, launch.Describe("launch"));
        Assert.True(single.ExitCode == 0, single.Describe("single"));
        // the launcher relays both ranks with prefixes; the bucket plan of the 2 KiB cap (closed form below)
        Assert.Contains("[rank 0] step 7", launch.Stdout);
        Assert.Contains("[rank 1] step 7", launch.Stdout);
        Assert.Contains("3 gradient buckets (656, 4096, 1152 bytes)", launch.Stdout);

        using var r0 = Checkpoint.Load(tmp.File("rank0.safetensors"));
        using var r1 = Checkpoint.Load(tmp.File("rank1.safetensors"));
        using var one = Checkpoint.Load(tmp.File("single.safetensors"));
        using var ckpt = Checkpoint.Load(tmp.File("checkpoint.safetensors"));
        torch.manual_seed(3);
        using var initial = new DataParallelRegression.Mlp();   // rank 0's and the single process's start
        var init = initial.state_dict();
        Assert.Equal(6, one.Count);
        double moved = 0;
        foreach (var (name, p1) in one)
        {
            using var scope = torch.NewScope();
            Assert.Equal(0.0, (r0[name] - r1[name]).abs().max().item<double>());       // identical on both ranks
            Assert.Equal(0.0, (ckpt[name] - r0[name]).abs().max().item<double>());     // rank 0 wrote the checkpoint
            double err = (r0[name] - p1).abs().max().item<double>();
            Assert.True(err <= 1e-5, $"{name}: data-parallel vs one process differ by {err}");
            moved = Math.Max(moved, (p1 - init[name]).abs().max().item<double>());
        }
        Assert.True(moved > 1e-3, $"training hardly moved the parameters ({moved})");
    }
}
