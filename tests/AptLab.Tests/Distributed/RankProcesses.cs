using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AptLab.Tests.Distributed;

/// <summary>
/// Runs the aptlab CLI (its build output, src/AptLab.Cli/bin/&lt;Config&gt;/net10.0/AptLab.Cli.dll, built with the
/// tests through a project reference) as separate processes on 127.0.0.1, one per rank, with the torchrun
/// variables; collects each one's output.
/// </summary>
internal sealed class RankProcess : IDisposable
{
    public readonly Process Process;
    private readonly StringBuilder stdout = new(), stderr = new();
    public string Stdout { get { lock (stdout) return stdout.ToString(); } }
    public string Stderr { get { lock (stderr) return stderr.ToString(); } }

    private RankProcess(Process p)
    {
        Process = p;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    public static string CliDll
    {
        get
        {
            // The tests' own configuration (bin/Debug or bin/Release) selects the CLI build beside them.
            var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            var dll = Path.Combine(TestPaths.Repo, "src", "AptLab.Cli", "bin", config, "net10.0", "AptLab.Cli.dll");
            if (!File.Exists(dll)) throw new FileNotFoundException($"the aptlab CLI is not built: {dll} (dotnet build tests/AptLab.Tests builds it)");
            return dll;
        }
    }

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";

    /// <summary>`aptlab args...` with the given extra environment (null values remove a variable).</summary>
    public static RankProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?> env)
    {
        var psi = new ProcessStartInfo(Dotnet)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var k in new[] { "RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "APTLAB_DIST_TIMEOUT" })
            psi.Environment.Remove(k);
        foreach (var (k, v) in env)
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        psi.Environment["OMP_NUM_THREADS"] = "1";
        return new RankProcess(new Process { StartInfo = psi });
    }

    /// <summary>Rank <paramref name="rank"/> of <paramref name="world"/> meeting at 127.0.0.1:<paramref name="port"/>.</summary>
    public static RankProcess StartRank(int rank, int world, int port, params string[] args) =>
        Start(args, new Dictionary<string, string?>
        {
            ["RANK"] = rank.ToString(), ["LOCAL_RANK"] = rank.ToString(), ["WORLD_SIZE"] = world.ToString(),
            ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = port.ToString(),
        });

    /// <summary>Waits for exit (a hang guard, not a timing assertion); true if it exited.</summary>
    public bool WaitForExit(TimeSpan limit)
    {
        if (!Process.WaitForExit(limit)) return false;
        Process.WaitForExit();   // drain the output
        return true;
    }

    public int ExitCode => Process.ExitCode;

    /// <summary>Polls the output until <paramref name="text"/> appears; false after <paramref name="limit"/>.</summary>
    public bool WaitForOutput(string text, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < until)
        {
            if (Stdout.Contains(text)) return true;
            if (Process.HasExited) { Process.WaitForExit(); return Stdout.Contains(text); }
            Thread.Sleep(50);
        }
        return false;
    }

    public void Kill()
    {
        try { if (!Process.HasExited) Process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        Process.WaitForExit(10_000);
    }

    public string Describe(string name) => $"{name} exit {(Process.HasExited ? Process.ExitCode.ToString() : "running")}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";

    public void Dispose()
    {
        Kill();
        Process.Dispose();
    }

    /// <summary>A TCP port free on 127.0.0.1 now (bind port 0).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }
}
