using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json.Nodes;
using AptLab.Torch.Distributed;

namespace AptLab.Bench;

/// <summary>
/// all_reduce (sum) bandwidth of a 64 MB float32 buffer between 2 local ranks: c10d Gloo over TCP on 127.0.0.1.
/// The benchmark starts two copies of itself with <see cref="WorkerArg"/> and the torchrun variables; rank 0
/// reports the median time per all_reduce. algbw = bytes / time; busbw = algbw * 2 (n - 1) / n (the
/// nccl-tests convention: the bytes each rank sends and receives in a ring). python/dist_bench.py measures
/// the same through torch.distributed on the same libtorch.
/// </summary>
public static class DistBench
{
    public const string WorkerArg = "--dist-worker";
    private const int Ranks = 2, Warmup = 2, Iterations = 10;
    private const long Elements = 64L * 1024 * 1024 / 4;   // 64 MB of float32

    public static JsonNode Run(int threads)
    {
        if (!ProcessGroup.IsAvailable) return new JsonObject { ["skipped"] = "shim built without c10d (libgloo-dev)" };
        int port = FreePort();
        var exe = Environment.ProcessPath!;
        var prefix = Path.GetFileNameWithoutExtension(exe) == "dotnet" ? new[] { Assembly.GetEntryAssembly()!.Location } : [];
        var workers = Enumerable.Range(0, Ranks).Select(rank =>
        {
            var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true };
            foreach (var a in prefix.Append(WorkerArg)) psi.ArgumentList.Add(a);
            psi.Environment["RANK"] = rank.ToString();
            psi.Environment["LOCAL_RANK"] = rank.ToString();
            psi.Environment["WORLD_SIZE"] = Ranks.ToString();
            psi.Environment["MASTER_ADDR"] = "127.0.0.1";
            psi.Environment["MASTER_PORT"] = port.ToString();
            psi.Environment["APTLAB_DIST_TIMEOUT"] = "120";
            psi.Environment["OMP_NUM_THREADS"] = "1";
            return Process.Start(psi)!;
        }).ToArray();
        var outputs = workers.Select(w => w.StandardOutput.ReadToEndAsync()).ToArray();
        foreach (var w in workers) w.WaitForExit();
        if (workers.Any(w => w.ExitCode != 0))
            return new JsonObject { ["error"] = $"a rank failed (exit codes {string.Join(", ", workers.Select(w => w.ExitCode))})" };
        var result = JsonNode.Parse(outputs[0].Result.Trim().Split('\n').Last())!.AsObject();

        var py = Timing.Python("dist_bench.py", Ranks.ToString(), Elements.ToString(), Iterations.ToString());
        if (py is not null)
        {
            result["python"] = py;
            result["ratio_csharp_over_python"] = new JsonObject
            {
                ["all_reduce_ms"] = Timing.Ratio(result["all_reduce_ms"]!.GetValue<double>(), py["all_reduce_ms"]!.GetValue<double>()),
            };
        }
        return result;
    }

    /// <summary>One rank: joins the group, all_reduces the buffer, rank 0 prints the JSON result.</summary>
    public static int Worker()
    {
        torch.set_num_threads(1);
        using var group = ProcessGroup.InitFromEnvironment();
        using var buffer = torch.ones(Elements);
        for (int i = 0; i < Warmup; i++) group.all_reduce(buffer);
        group.barrier();
        var times = new double[Iterations];
        for (int i = 0; i < Iterations; i++)
        {
            var sw = Stopwatch.StartNew();
            group.all_reduce(buffer);
            times[i] = sw.Elapsed.TotalSeconds;
        }
        // every element is now 2^(warmup + iterations): the collectives really ran
        double expected = Math.Pow(Ranks, Warmup + Iterations), got = buffer[Elements - 1].item<double>();
        if (got != expected) throw new InvalidOperationException($"all_reduce result {got}, expected {expected}");
        Array.Sort(times);
        double median = times[Iterations / 2], bytes = Elements * 4.0;
        if (group.rank == 0)
            Console.WriteLine(new JsonObject
            {
                ["ranks"] = Ranks,
                ["buffer_mb"] = bytes / (1 << 20),
                ["backend"] = group.backend,
                ["all_reduce_ms"] = Math.Round(median * 1e3, 2),
                ["all_reduce_best_ms"] = Math.Round(times[0] * 1e3, 2),
                ["algbw_gb_s"] = Math.Round(bytes / median / 1e9, 3),
                ["busbw_gb_s"] = Math.Round(bytes / median / 1e9 * 2 * (Ranks - 1) / Ranks, 3),
            }.ToJsonString());
        return 0;
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }
}
