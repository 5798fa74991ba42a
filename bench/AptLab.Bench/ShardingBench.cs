using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json.Nodes;
using AptLab.Apt;
using AptLab.Wan;
using AptLab.Torch.Distributed;
using AptLab.Torch.nn;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Bench;

/// <summary>
/// Fully sharded against replicated data parallel on 2 local Gloo ranks: one training step of a Wan DiT (dim 256,
/// ffn 1024, 6 layers, 16 heads, text_len 32; 2 x 96 tokens per rank; flow-matching loss, RMSprop, fp32, gradient
/// checkpointing on in both) under <see cref="ReplicatedModule"/> + DDP and under
/// <see cref="FullyShardedDataParallel"/>. FSDP gathers each block for its forward and again for its recomputation and
/// reduce-scatters its gradients (Gloo: an all_reduce of the whole flat vector), where DDP all-reduces the gradients
/// once; the ratio is that overhead. Also the time of one block's gather and reduce-scatter, and each rank's live
/// tensor bytes under both. Rank 0 reports the median step time over <see cref="Steps"/> steps.
/// </summary>
public static class ShardingBench
{
    public const string WorkerArg = "--sharding-worker";
    private const int Ranks = 2, Warmup = 2, Steps = 6;

    private static readonly WanConfig Config = new()
    {
        ModelType = "t2v", InDim = 16, OutDim = 16, Dim = 256, FfnDim = 1024, FreqDim = 256, NumHeads = 16, NumLayers = 6,
        TextLen = 32, TextDim = 256,
    };

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
            psi.Environment["APTLAB_DIST_TIMEOUT"] = "300";
            psi.Environment["OMP_NUM_THREADS"] = "1";
            return Process.Start(psi)!;
        }).ToArray();
        var outputs = workers.Select(w => w.StandardOutput.ReadToEndAsync()).ToArray();
        foreach (var w in workers) w.WaitForExit();
        if (workers.Any(w => w.ExitCode != 0))
            return new JsonObject { ["error"] = $"a rank failed (exit codes {string.Join(", ", workers.Select(w => w.ExitCode))})" };
        return JsonNode.Parse(outputs[0].Result.Trim().Split('\n').Last())!;
    }

    /// <summary>One rank: the same steps under DDP, then under FSDP; rank 0 prints the JSON result.</summary>
    public static int Worker()
    {
        torch.set_num_threads(1);
        using var group = ProcessGroup.InitFromEnvironment();
        var ddp = Measure(group, ParallelMode.Ddp);
        var fsdp = Measure(group, ParallelMode.Fsdp);
        var (gatherMs, scatterMs, blockBytes) = Collectives(group);
        if (group.rank == 0)
            Console.WriteLine(new JsonObject
            {
                ["ranks"] = Ranks,
                ["backend"] = group.backend,
                ["model"] = $"Wan DiT dim {Config.Dim}, ffn {Config.FfnDim}, {Config.NumLayers} layers; 2 samples x 96 tokens per rank; fp32; checkpointing on",
                ["ddp_step_ms"] = Math.Round(ddp.ms, 1),
                ["fsdp_step_ms"] = Math.Round(fsdp.ms, 1),
                ["ratio_fsdp_over_ddp"] = Math.Round(fsdp.ms / ddp.ms, 3),
                ["block_bytes"] = blockBytes,
                ["block_gather_ms"] = Math.Round(gatherMs, 2),
                ["block_reduce_scatter_ms"] = Math.Round(scatterMs, 2),
                ["collectives_per_step_fsdp"] = "per block: 2 gathers (forward, recomputation) + 1 reduce-scatter; root: 1 gather + 1 reduce-scatter",
                ["ddp_live_bytes_per_rank"] = ddp.bytes,
                ["fsdp_live_bytes_per_rank"] = fsdp.bytes,
                ["ddp_losses_equal_fsdp"] = Math.Abs(ddp.loss - fsdp.loss) <= 1e-5 * Math.Abs(ddp.loss),
            }.ToJsonString());
        return 0;
    }

    // median step time (ms), live tensor bytes after a step (weights, gradients, optimizer state), last loss
    private static (double ms, long bytes, double loss) Measure(ProcessGroup group, ParallelMode mode)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = torch.cpu_memory_allocated();
        torch.manual_seed(7);
        var model = new WanFlowModel(new WanModel(Config) { GradientCheckpointing = true });
        using (var g = new Generator(0)) init.nontrivial_(model.Net, g);
        IParallelModule wrapped = mode == ParallelMode.Fsdp
            ? new FullyShardedDataParallel(model.Module, group)
            : new ReplicatedModule(model.Module, Precision.Fp32, group);
        using var opt = new RMSprop(wrapped.parameters(), lr: 1e-5, alpha: 0.9);
        using var gd = new Generator(1);
        var shard = new BatchShard(group.rank, group.world_size);
        var x0 = shard.Of(torch.randn([2 * Ranks, 16, 6, 8, 8], generator: gd)).contiguous().DetachFromScope();   // 6·4·4 = 96 tokens
        var eps = shard.Of(torch.randn([2 * Ranks, 16, 6, 8, 8], generator: gd)).contiguous().DetachFromScope();
        var ctx = shard.Of(torch.randn([2 * Ranks, Config.TextLen, Config.TextDim], generator: gd)).contiguous().DetachFromScope();
        var sigma = torch.full([2], 0.5).DetachFromScope();
        var times = new List<double>();
        double loss = 0;
        long bytes = 0;
        for (int i = 0; i < Warmup + Steps; i++)
        {
            group.barrier();
            var sw = Stopwatch.StartNew();
            using (var scope = torch.NewScope())
            {
                var xs = x0 * 0.5 + eps * 0.5;
                var l = F.mse_loss(wrapped.forward(() => model.Velocity(xs, sigma, new Conditioning(ctx))), eps - x0);
                wrapped.backward(l);
                wrapped.sync_gradients();
                wrapped.step(opt);
                loss = l.item<double>();
            }
            if (i >= Warmup) times.Add(sw.Elapsed.TotalMilliseconds);
            if (i == Warmup + Steps - 1)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                bytes = torch.cpu_memory_allocated() - baseline;
            }
            wrapped.zero_grad();
        }
        wrapped.Dispose();
        model.Dispose();
        foreach (var t in new[] { x0, eps, ctx, sigma }) t.Dispose();
        times.Sort();
        return (times[times.Count / 2], bytes, loss);
    }

    // one block's worth of parameters: all_gather_into_tensor and reduce_scatter_tensor of its flat vector
    private static (double gatherMs, double scatterMs, long bytes) Collectives(ProcessGroup group)
    {
        using var scope = torch.NewScope();
        long numel;
        using (var block = new WanAttentionBlock(Config)) numel = block.num_parameters();
        long padded = (numel + Ranks - 1) / Ranks * Ranks;
        var shard = torch.ones([padded / Ranks]);
        var full = torch.empty([padded]);
        var flat = torch.ones([padded]);
        double g = double.MaxValue, s = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            group.barrier();
            var sw = Stopwatch.StartNew();
            group.all_gather_into_tensor(full, shard);
            g = Math.Min(g, sw.Elapsed.TotalMilliseconds);
            group.barrier();
            sw.Restart();
            group.reduce_scatter_tensor(shard, flat, ReduceOp.Avg);
            s = Math.Min(s, sw.Elapsed.TotalMilliseconds);
        }
        return (g, s, padded * 4);
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
