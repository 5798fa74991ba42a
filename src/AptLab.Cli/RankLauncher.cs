using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace AptLab.Cli;

/// <summary>The process side of `aptlab launch`: one child per local rank, output relayed with rank prefixes,
/// all ranks stopped at the first failure.</summary>
public static class RankLauncher
{
    public sealed record Spec
    {
        public int NProc { get; init; } = 1;
        public int NNodes { get; init; } = 1;
        public int NodeRank { get; init; }
        public string MasterAddr { get; init; } = "127.0.0.1";
        /// <summary>0: pick a free port on this machine (single machine only).</summary>
        public int MasterPort { get; init; }
        public double TimeoutSeconds { get; init; }
        public IReadOnlyList<string> Arguments { get; init; } = [];

        public void Validate()
        {
            if (NProc < 1) throw new ArgumentException($"--nproc {NProc} must be at least 1");
            if (NNodes < 1) throw new ArgumentException($"--nnodes {NNodes} must be at least 1");
            if (NodeRank < 0 || NodeRank >= NNodes) throw new ArgumentException($"--node-rank {NodeRank} must lie in [0, --nnodes {NNodes})");
            if (MasterPort is < 0 or > 65535) throw new ArgumentException($"--master-port {MasterPort} is not a TCP port");
            if (NNodes > 1 && MasterPort == 0) throw new ArgumentException("--master-port is required with --nnodes > 1");
        }
    }

    /// <summary>A TCP port free on the loopback interface right now (bind to port 0, read it, release it).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    /// <summary>The command line that starts this same aptlab: the apphost, or `dotnet AptLab.Cli.dll`.</summary>
    public static (string file, List<string> prefix) SelfCommand()
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this process's executable");
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
            return (exe, [Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("no entry assembly")]);
        return (exe, []);
    }

    public static int Run(Spec spec, TextWriter stdout, TextWriter stderr)
    {
        spec.Validate();
        int port = spec.MasterPort != 0 ? spec.MasterPort : FreePort();
        int world = spec.NProc * spec.NNodes;
        var (file, prefix) = SelfCommand();
        var ranks = new List<(int rank, Process process)>();
        var outLock = new object();
        stderr.WriteLine($"launch: {spec.NProc} rank(s) of {world}, rendezvous {spec.MasterAddr}:{port}: {string.Join(' ', spec.Arguments)}");
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            for (int local = 0; local < spec.NProc; local++)
            {
                int rank = spec.NodeRank * spec.NProc + local;
                var psi = new ProcessStartInfo(file)
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                foreach (var a in prefix.Concat(spec.Arguments)) psi.ArgumentList.Add(a);
                psi.Environment["RANK"] = rank.ToString();
                psi.Environment["LOCAL_RANK"] = local.ToString();
                psi.Environment["WORLD_SIZE"] = world.ToString();
                psi.Environment["LOCAL_WORLD_SIZE"] = spec.NProc.ToString();
                psi.Environment["GROUP_RANK"] = spec.NodeRank.ToString();
                psi.Environment["MASTER_ADDR"] = spec.MasterAddr;
                psi.Environment["MASTER_PORT"] = port.ToString();
                if (spec.TimeoutSeconds > 0) psi.Environment["APTLAB_DIST_TIMEOUT"] = spec.TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                // torchrun's default: share the cores between the local ranks unless told otherwise.
                if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null)
                    psi.Environment["OMP_NUM_THREADS"] = Math.Max(1, Environment.ProcessorCount / spec.NProc).ToString();
                var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
                string tag = $"[rank {rank}] ";
                p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (outLock) stdout.WriteLine(tag + e.Data); };
                p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (outLock) stderr.WriteLine(tag + e.Data); };
                p.Start();
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                ranks.Add((rank, p));
            }
            return Supervise(ranks, stderr, outLock, cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            foreach (var (_, p) in ranks) { Stop(p); p.Dispose(); }
        }
    }

    // Waits for all ranks; the first that exits non-zero (or Ctrl+C) stops the others.
    private static int Supervise(List<(int rank, Process process)> ranks, TextWriter stderr, object outLock, CancellationToken cancel)
    {
        var pending = ranks.ToDictionary(r => r.process.WaitForExitAsync(), r => r);
        var cancelled = Task.Delay(Timeout.Infinite, cancel);
        while (pending.Count > 0)
        {
            var done = Task.WhenAny(pending.Keys.Append(cancelled)).GetAwaiter().GetResult();
            if (done == cancelled)
            {
                lock (outLock) stderr.WriteLine("launch: interrupted, stopping all ranks");
                return 130;
            }
            var (rank, p) = pending[done];
            pending.Remove(done);
            p.WaitForExit();   // drains the relayed output
            if (p.ExitCode != 0)
            {
                lock (outLock) stderr.WriteLine($"launch: rank {rank} exited with code {p.ExitCode}; stopping the other ranks");
                foreach (var (_, other) in pending.Values) Stop(other);
                return p.ExitCode;
            }
        }
        return 0;
    }

    private static void Stop(Process p)
    {
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }   // never started or already reaped
    }
}
