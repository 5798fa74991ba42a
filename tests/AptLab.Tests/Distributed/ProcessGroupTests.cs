using AptLab.Examples;
using AptLab.Torch.Distributed;
using AptLab.Training;

namespace AptLab.Tests.Distributed;

/// <summary>In-process checks: the torchrun variables, and a one-rank Gloo group (its collectives are the
/// identity, so the bucket plan and the gradient path can be checked without other processes).</summary>
public class ProcessGroupTests
{
    [Fact]
    public void ReadsTheTorchrunVariables()
    {
        var env = new Dictionary<string, string>
        {
            ["MASTER_ADDR"] = "10.0.0.2", ["MASTER_PORT"] = "1234", ["RANK"] = "3", ["WORLD_SIZE"] = "8", ["LOCAL_RANK"] = "1",
            ["APTLAB_DIST_TIMEOUT"] = "7.5",
        };
        var o = DistributedOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal(("10.0.0.2", 1234, 3, 8, 1), (o.MasterAddr, o.MasterPort, o.Rank, o.WorldSize, o.LocalRank));
        Assert.Equal(TimeSpan.FromSeconds(7.5), o.Timeout);
        Assert.True(o.IsDistributed);
        var alone = DistributedOptions.FromEnvironment(_ => null);
        Assert.Equal((0, 1), (alone.Rank, alone.WorldSize));
    }

    [Theory]
    [InlineData("RANK", "4", "RANK=4")]
    [InlineData("MASTER_PORT", "70000", "MASTER_PORT=70000")]
    [InlineData("WORLD_SIZE", "two", "WORLD_SIZE='two'")]
    public void BadVariablesAreNamed(string name, string value, string expected)
    {
        var env = new Dictionary<string, string> { ["WORLD_SIZE"] = "4", [name] = value };
        var e = Assert.Throws<ArgumentException>(() => DistributedOptions.FromEnvironment(k => env.GetValueOrDefault(k)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void OneRankGroupBucketsAndKeepsGradients()
    {
        Assert.True(ProcessGroup.IsAvailable, "the shim was built without c10d (libgloo-dev missing at make native)");
        Assert.Contains("gloo", ProcessGroup.Backends);
        using var group = ProcessGroup.Init(new DistributedOptions
        {
            MasterPort = RankProcess.FreePort(), Timeout = TimeSpan.FromSeconds(10),
        });
        torch.manual_seed(0);
        using var model = new DataParallelRegression.Mlp();
        // reverse order: net.4.bias 16 B + net.4.weight 512 B + net.2.bias 128 B | net.2.weight 4096 B | net.0.* 128 + 1024 B
        using var ddp = new DistributedDataParallel(model, group, bucketCapBytes: 2048);
        Assert.Equal(new long[] { 656, 4096, 1152 }, ddp.BucketBytes);
        using var big = new DistributedDataParallel(model, group);
        Assert.Equal(new long[] { 656 + 4096 + 1152 }, big.BucketBytes);

        using var scope = torch.NewScope();
        var x = torch.randn(5, 8);
        var parameters = model.parameters().ToArray();
        F.mse_loss(model.forward(x), torch.zeros(5, 4)).backward();
        var expected = parameters.Select(p => p.grad!.clone()).ToArray();
        foreach (var p in parameters) p.grad = null;
        ddp.backward(F.mse_loss(model.forward(x), torch.zeros(5, 4)));
        for (int i = 0; i < parameters.Length; i++)
            Assert.Equal(0.0, (parameters[i].grad! - expected[i]).abs().max().item<double>());
        // no_sync accumulates: two backward passes give twice the gradient
        using (ddp.no_sync())
        {
            Assert.False(ddp.IsSyncing);
            ddp.backward(F.mse_loss(model.forward(x), torch.zeros(5, 4)));
        }
        Assert.True(ddp.IsSyncing);
        for (int i = 0; i < parameters.Length; i++)
            Assert.True((parameters[i].grad! - expected[i] * 2.0).abs().max().item<double>() < 1e-6);

        // synchronised steps leave no native tensors behind (the buckets are allocated once)
        long live = TestPaths.SettledLiveTensors();
        for (int step = 0; step < 3; step++)
        {
            using var stepScope = torch.NewScope();
            ddp.backward(F.mse_loss(model.forward(x), torch.zeros(5, 4)));
        }
        Assert.Equal(live, torch.live_tensors());

        // all_reduce etc. on one rank are the identity; all_gather returns one tensor
        var t = torch.arange(4).to(torch.float32);
        group.all_reduce(t, ReduceOp.Avg);
        Assert.Equal(new float[] { 0, 1, 2, 3 }, t.data<float>().ToArray());
        Assert.Single(group.all_gather(t));
        group.barrier();
    }

    [Fact]
    public void NcclIsRefusedClearlyOnACpuBuild()
    {
        if (ProcessGroup.Backends.Contains("nccl")) return;   // a CUDA build: not applicable
        var e = Assert.Throws<DistributedException>(() => ProcessGroup.Init(new DistributedOptions
        {
            Backend = "nccl", MasterPort = RankProcess.FreePort(), Timeout = TimeSpan.FromSeconds(5),
        }));
        Assert.Contains("CUDA libtorch", e.Message);
        Assert.Equal("init", e.Operation);
    }
}
