namespace AptLab.Tests.Distributed;

/// <summary>A dead or silent peer must end the other ranks with a clear error, not a hang; the launcher must stop
/// every rank when one fails and pass on its exit code. The time limits here only guard against hangs.</summary>
public class FailureTests
{
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(30);

    [Fact]
    public void KillingOneRankMakesTheOtherFailNamingTheOperation()
    {
        int port = RankProcess.FreePort();
        string[] args = ["dist-selftest", "--mode", "hang", "--seconds", "60", "--timeout", "5"];
        using var p0 = RankProcess.StartRank(0, 2, port, args);
        using var p1 = RankProcess.StartRank(1, 2, port, args);
        Assert.True(p0.WaitForOutput("rank 0 ready", Startup), p0.Describe("rank 0"));
        Assert.True(p1.WaitForOutput("rank 1 ready", Startup), p1.Describe("rank 1"));
        p1.Kill();
        Assert.True(p0.WaitForExit(TimeSpan.FromSeconds(20)), "rank 0 still runs after its peer died\n" + p0.Describe("rank 0"));
        Assert.Equal(1, p0.ExitCode);
        Assert.Contains("error: all_reduce failed on rank 0 of 2 (gloo)", p0.Stderr);
    }

    [Fact]
    public void SilentRankTurnsIntoATimeoutError()
    {
        int port = RankProcess.FreePort();
        // rank 1 stays alive but stops taking part in the all_reduce loop
        string[] args = ["dist-selftest", "--mode", "hang", "--seconds", "60", "--timeout", "3", "--stall-rank", "1"];
        using var p0 = RankProcess.StartRank(0, 2, port, args);
        using var p1 = RankProcess.StartRank(1, 2, port, args);
        Assert.True(p0.WaitForOutput("rank 0 ready", Startup), p0.Describe("rank 0"));
        Assert.True(p0.WaitForExit(TimeSpan.FromSeconds(25)), "rank 0 hangs on a silent peer\n" + p0.Describe("rank 0"));
        Assert.Equal(1, p0.ExitCode);
        Assert.Contains("error: all_reduce failed on rank 0 of 2 (gloo)", p0.Stderr);
        Assert.Contains("Timed out waiting 3000ms", p0.Stderr);
    }

    [Fact]
    public void LauncherStopsAllRanksAndReturnsTheFailingCode()
    {
        // rank 1 exits with 7 after the first barrier; rank 0 would otherwise sleep 120 s
        using var launch = RankProcess.Start(
            ["launch", "--nproc", "2", "dist-selftest", "--mode", "fail", "--fail-rank", "1", "--exit-code", "7", "--seconds", "120"],
            new Dictionary<string, string?>());
        Assert.True(launch.WaitForExit(TimeSpan.FromSeconds(60)), "the launcher did not stop the ranks\n" + launch.Describe("launch"));
        Assert.Equal(7, launch.ExitCode);
        Assert.Contains("[rank 1] failing on purpose", launch.Stderr);
        Assert.Contains("launch: rank 1 exited with code 7; stopping the other ranks", launch.Stderr);
    }

    [Fact]
    public void JoiningWithoutTheOtherRanksFailsAfterTheTimeout()
    {
        using var p1 = RankProcess.StartRank(1, 2, RankProcess.FreePort(), "dist-selftest", "--mode", "collectives", "--timeout", "2");
        Assert.True(p1.WaitForExit(TimeSpan.FromSeconds(30)), p1.Describe("rank 1"));
        Assert.Equal(1, p1.ExitCode);
        Assert.Contains("error: joining the gloo process group failed: rendezvous at 127.0.0.1:", p1.Stderr);
        Assert.Contains("(rank 1 of 2)", p1.Stderr);
    }
}
