using AptLab.Torch.IO;

namespace AptLab.Tests.Distributed;

/// <summary>Collectives of two Gloo ranks (separate processes on 127.0.0.1) on inputs known in closed form:
/// rank r holds x_r = arange(6).view(2, 3) + 10 r (see DistSelftestCommand.Collectives).</summary>
public class CollectiveTests
{
    [Fact]
    public void TwoRanksGiveTheClosedForms()
    {
        using var tmp = TestPaths.Temp();
        int port = RankProcess.FreePort();
        string[] args = ["dist-selftest", "--mode", "collectives", "--timeout", "20", "--out", tmp.File("c{rank}.safetensors")];
        using var p0 = RankProcess.StartRank(0, 2, port, args);
        using var p1 = RankProcess.StartRank(1, 2, port, args);
        foreach (var (p, n) in new[] { (p0, "rank 0"), (p1, "rank 1") })
        {
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), p.Describe(n));
            Assert.True(p.ExitCode == 0, p.Describe(n));
        }
        using var scope = torch.NewScope();
        var x0 = torch.arange(6).to(torch.float32).view(2, 3);
        var x1 = x0 + 10.0;
        for (int rank = 0; rank < 2; rank++)
        {
            using var c = Checkpoint.Load(tmp.File($"c{rank}.safetensors"));
            AssertEqual(x0 + x1, c["all_reduce_sum"]);
            AssertEqual((x0 + x1) / 2.0, c["all_reduce_avg"]);
            AssertEqual(x1, c["all_reduce_max"]);
            AssertEqual(x0, c["all_reduce_min"]);
            AssertEqual(x1, c["broadcast_from_last"]);
            AssertEqual(torch.stack([x0, x1]), c["all_gather"]);
            // inputs[i] = full(3, 100 r + i): rank k receives sum_r (100 r + k) = 100 + 2k
            AssertEqual(torch.full([3], 100.0 + 2 * rank), c["reduce_scatter_sum"]);
            AssertEqual(torch.cat([x0.reshape(-1), x1.reshape(-1)]), c["all_gather_into_tensor"]);
            AssertEqual(torch.cat([x0.reshape(-1), x1.reshape(-1)]) + 0.5, c["all_gather_into_tensor_bf16"]);   // exact in bf16
            // rank k's slice of arange(6) + 100 r, averaged over r = 0, 1: 3k + j + 50
            AssertEqual(torch.arange(3).to(torch.float32) + (3.0 * rank + 50), c["reduce_scatter_tensor_avg"]);
        }
    }

    private static void AssertEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }
}
