using System.Diagnostics;
using AptLab.Tests.Distributed;

namespace AptLab.Tests.Engine;

/// <summary>
/// The engine's thread count follows APTLAB_THREADS, else OMP_NUM_THREADS, else the cores (it used to be forced to the
/// cores, ignoring OMP_NUM_THREADS and undoing `aptlab launch`'s per-rank split), and `aptlab info` says where it came
/// from. Checked in child processes, since the count is fixed when the engine loads.
/// </summary>
public class ThreadCountTests
{
    [Theory]
    [InlineData(null, null, 8, 8, "cores")]
    [InlineData(null, "3", 8, 3, "OMP_NUM_THREADS")]
    [InlineData(null, "4,2", 8, 4, "OMP_NUM_THREADS")]                // one count per nesting level: the first
    [InlineData("2", "6", 8, 2, "APTLAB_THREADS")]
    [InlineData(null, "zero", 8, 8, "cores (OMP_NUM_THREADS='zero' ignored: not a positive integer)")]
    [InlineData("0", "5", 8, 5, "OMP_NUM_THREADS (APTLAB_THREADS='0' ignored: not a positive integer)")]
    public void The_count_comes_from_the_override_the_openmp_variable_or_the_cores(string? aptlab, string? omp, int cores, int threads, string source) =>
        Assert.Equal((threads, source), OpenMpPolicy.ResolveThreads(aptlab, omp, cores));

    private static (int code, string stdout) Aptlab(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet")
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        psi.ArgumentList.Add(RankProcess.CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var k in new[] { "OMP_NUM_THREADS", "APTLAB_THREADS", "RANK", "WORLD_SIZE", "LOCAL_RANK" }) psi.Environment.Remove(k);
        foreach (var (k, v) in env) if (v is not null) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "aptlab did not exit");     // hang guard
        Assert.True(p.ExitCode == 0, err.Result);
        return (p.ExitCode, stdout);
    }

    private static string ThreadsLine(string stdout, string prefix = "") =>
        Assert.Single(stdout.Split('\n'), l => l.StartsWith(prefix + "threads "))[prefix.Length..].Trim();

    [Fact]
    public void A_child_with_OMP_NUM_THREADS_runs_that_many_threads()
    {
        var (_, one) = Aptlab(new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "1" }, "info");
        Assert.StartsWith("threads    1 (from OMP_NUM_THREADS;", ThreadsLine(one));
        var (_, over) = Aptlab(new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "3", ["APTLAB_THREADS"] = "2" }, "info");
        Assert.StartsWith("threads    2 (from APTLAB_THREADS;", ThreadsLine(over));
    }

    [Fact]
    public void Launch_gives_each_rank_its_share_of_the_cores_unless_the_user_chose()
    {
        int share = Math.Max(1, Environment.ProcessorCount / 2);
        var (_, split) = Aptlab(new Dictionary<string, string?>(), "launch", "--nproc", "2", "info");
        foreach (var rank in new[] { 0, 1 })
            Assert.StartsWith($"threads    {share} (from OMP_NUM_THREADS;", ThreadsLine(split, $"[rank {rank}] "));
        var (_, chosen) = Aptlab(new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "3" }, "launch", "--nproc", "2", "info");
        foreach (var rank in new[] { 0, 1 })
            Assert.StartsWith("threads    3 (from OMP_NUM_THREADS;", ThreadsLine(chosen, $"[rank {rank}] "));
    }
}
