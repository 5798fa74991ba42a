using System.CommandLine;
using AptLab.Examples;
using AptLab.Torch.Distributed;
using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Cli;

/// <summary>
/// `aptlab dist-selftest` (hidden): checks of the distributed engine run as real processes, by the tests and by
/// hand under `aptlab launch`. Joins the group of the torchrun variables (or runs alone when WORLD_SIZE is
/// unset with --mode train). Modes:
///   train        DataParallelRegression for --steps; writes the final parameters to --out (every rank) and
///                --checkpoint (rank 0)
///   apt          the APT loop on tiny Wan models (DataParallelApt) for --steps updates, global micro-batch --batch,
///                --accum micro-batches; writes stats and generator/EMA weights to --out (every rank) and the trainer
///                state after update --checkpoint-at to --checkpoint (rank 0) and the trainer's own checkpoint (FSDP: every
///                rank's shards + the consolidated file) into --checkpoint-dir; --resume continues a trainer checkpoint
///                (a file, or a shards folder); --float64 trains in double precision; --parallel ddp|fsdp and
///                --precision fp32|bf16-mixed|bf16 as the trainer's; --measure-memory adds this rank's measured tensor
///                bytes to --out. Alone (no WORLD_SIZE), fsdp runs in a group of one.
///   collectives  all_reduce (sum, avg, max), broadcast, all_gather, reduce_scatter on rank-dependent inputs;
///                writes the results to --out
///   hang         repeated all_reduce for --seconds; the rank named by --stall-rank stops taking part
///   fail         exits with code --exit-code on --fail-rank after the first barrier, the others wait
/// "{rank}" in --out is replaced by the rank. A distributed failure prints "error: ..." and exits with 1.
/// </summary>
public static class DistSelftestCommand
{
    public static Command Create()
    {
        var mode = new Option<string>("--mode") { Description = "train | apt | collectives | hang | fail", DefaultValueFactory = _ => "train" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 6 };
        var batch = new Option<int>("--batch") { Description = "global batch", DefaultValueFactory = _ => 16 };
        var accum = new Option<int>("--accum") { Description = "micro-batches per step", DefaultValueFactory = _ => 1 };
        var bucket = new Option<long>("--bucket-bytes") { DefaultValueFactory = _ => DistributedDataParallel.DefaultBucketCapBytes };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var timeout = new Option<double>("--timeout") { Description = "seconds (default: APTLAB_DIST_TIMEOUT or 1800)" };
        var seconds = new Option<double>("--seconds") { DefaultValueFactory = _ => 30 };
        var stallRank = new Option<int>("--stall-rank") { DefaultValueFactory = _ => -1 };
        var failRank = new Option<int>("--fail-rank") { DefaultValueFactory = _ => -1 };
        var exitCode = new Option<int>("--exit-code") { DefaultValueFactory = _ => 7 };
        var output = new Option<string?>("--out") { Description = "result file (.safetensors); {rank} is replaced" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "train: the model's checkpoint, written by rank 0 only" };
        var checkpointAt = new Option<int>("--checkpoint-at") { Description = "apt: update after which --checkpoint is written", DefaultValueFactory = _ => 2 };
        var resume = new Option<string?>("--resume") { Description = "apt: trainer checkpoint to continue from" };
        var float64 = new Option<bool>("--float64") { Description = "apt: models and data in float64" };
        var parallel = new Option<string>("--parallel") { Description = "apt: ddp | fsdp", DefaultValueFactory = _ => "ddp" };
        var precision = new Option<string>("--precision") { Description = "apt: fp32 | bf16-mixed | bf16", DefaultValueFactory = _ => "fp32" };
        var checkpointDir = new Option<string?>("--checkpoint-dir") { Description = "apt: the trainer's checkpoint folder (written after --checkpoint-at)" };
        var measureMemory = new Option<bool>("--measure-memory") { Description = "apt: measure this rank's tensor bytes after training" };
        var cmd = new Command("dist-selftest", "Distributed engine self-test (used by the tests)") { Hidden = true };
        foreach (var o in new Option[] { mode, steps, batch, accum, bucket, seed, timeout, seconds, stallRank, failRank, exitCode, output, checkpoint, checkpointAt, resume, float64, parallel, precision, checkpointDir, measureMemory })
            cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var options = DistributedOptions.FromEnvironment();
            if (parse.GetValue(timeout) is > 0 and var t) options = options with { Timeout = TimeSpan.FromSeconds(t) };
            string? Out(int rank) => parse.GetValue(output)?.Replace("{rank}", rank.ToString());
            torch.set_num_threads(1);
            try
            {
                string m = parse.GetValue(mode)!;
                DataParallelApt.Options AptOptions() => new()
                {
                    Updates = parse.GetValue(steps), GlobalMicroBatch = parse.GetValue(batch), Accumulation = parse.GetValue(accum),
                    Seed = (ulong)parse.GetValue(seed), Checkpoint = parse.GetValue(checkpoint),
                    CheckpointAt = parse.GetValue(checkpointAt), Resume = parse.GetValue(resume),
                    Float64 = parse.GetValue(float64),
                    Parallel = ParallelModes.Parse(parse.GetValue(parallel)!, "--parallel"),
                    Precision = PrecisionPolicy.Parse(parse.GetValue(precision)!, "--precision"),
                    CheckpointDir = parse.GetValue(checkpointDir), MeasureMemory = parse.GetValue(measureMemory),
                };
                if (m == "apt" && !options.IsDistributed)
                {
                    var o = AptOptions();
                    if (o.Parallel != ParallelMode.Fsdp) { Apt(null, o, Out(0)); return 0; }
                    // fully sharded in one process: a group of one on a free port
                    using var one = ProcessGroup.Init(options with { MasterPort = FreePort(), Rank = 0, WorldSize = 1 });
                    Apt(one, o, Out(0));
                    return 0;
                }
                if (m == "train" && !options.IsDistributed)
                {
                    Train(null, parse.GetValue(steps), parse.GetValue(batch), parse.GetValue(accum), parse.GetValue(bucket),
                        parse.GetValue(seed), Out(0), parse.GetValue(checkpoint));
                    return 0;
                }
                using var group = ProcessGroup.Init(options);
                switch (m)
                {
                    case "train":
                        Train(group, parse.GetValue(steps), parse.GetValue(batch), parse.GetValue(accum), parse.GetValue(bucket),
                            parse.GetValue(seed), Out(group.rank), parse.GetValue(checkpoint));
                        return 0;
                    case "apt": Apt(group, AptOptions(), Out(group.rank)); return 0;
                    case "collectives": Collectives(group, Out(group.rank)); return 0;
                    case "hang": Hang(group, parse.GetValue(seconds), parse.GetValue(stallRank)); return 0;
                    case "fail":
                        group.barrier();
                        if (group.rank == parse.GetValue(failRank)) { Console.Error.WriteLine("failing on purpose"); return parse.GetValue(exitCode); }
                        Thread.Sleep(TimeSpan.FromSeconds(parse.GetValue(seconds)));
                        return 0;
                    default: throw new ArgumentException($"--mode '{m}' is unknown (train, apt, collectives, hang, fail)");
                }
            }
            catch (DistributedException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }

    private static void Train(ProcessGroup? group, int steps, int batch, int accum, long bucketBytes, int seed, string? outFile,
                              string? checkpointFile)
    {
        int rank = group?.rank ?? 0;
        torch.manual_seed((ulong)(seed + 1000 * rank));   // different initial weights per rank: broadcast must fix them
        using var model = new DataParallelRegression.Mlp();
        var o = new DataParallelRegression.Options
        {
            Steps = steps, GlobalBatch = batch, Accumulation = accum, BucketCapBytes = bucketBytes, Seed = (ulong)seed,
        };
        DataParallelRegression.Train(model, group, o, Console.Out);
        if (outFile is not null) Checkpoint.Save(outFile, model.state_dict());
        if (checkpointFile is not null) DistributedRun.SaveCheckpoint(group, model, checkpointFile);
    }

    private static void Apt(ProcessGroup? group, DataParallelApt.Options o, string? outFile)
    {
        var r = DataParallelApt.Train(group, o, Console.Out);
        if (outFile is not null) DataParallelApt.Save(outFile, r);
    }

    // Inputs known in closed form: x_r = arange(6).view(2, 3) + 10 r on rank r.
    private static void Collectives(ProcessGroup g, string? outFile)
    {
        using var scope = torch.NewScope();
        Tensor X() => torch.arange(6).to(torch.float32).view(2, 3) + 10.0 * g.rank;
        var results = new Dictionary<string, Tensor>();
        foreach (var op in new[] { ReduceOp.Sum, ReduceOp.Avg, ReduceOp.Max, ReduceOp.Min })
        {
            var t = X();
            g.all_reduce(t, op);
            results["all_reduce_" + op.ToString().ToLowerInvariant()] = t;
        }
        var b = X();
        g.broadcast(b, src: g.world_size - 1);
        results["broadcast_from_last"] = b;
        results["all_gather"] = torch.stack(g.all_gather(X()));                       // [W, 2, 3]
        var ins = Enumerable.Range(0, g.world_size).Select(i => torch.full([3], 100.0 * g.rank + i)).ToArray();
        var rs = torch.zeros(3);
        g.reduce_scatter(rs, ins);                                                    // sum_r (100 r + rank)
        results["reduce_scatter_sum"] = rs;
        // the flat forms FSDP uses: all_gather_into_tensor (float32, and bfloat16 which Gloo carries as bytes) and
        // reduce_scatter_tensor (avg) over a [world x 3] vector
        var flat32 = torch.empty([g.world_size * 6L]);
        g.all_gather_into_tensor(flat32, X());
        results["all_gather_into_tensor"] = flat32;
        var flat16 = torch.empty([g.world_size * 6L], ScalarType.BFloat16);
        g.all_gather_into_tensor(flat16, (X() + 0.5).to(ScalarType.BFloat16));
        results["all_gather_into_tensor_bf16"] = flat16.to(ScalarType.Float32);
        var rst = torch.zeros(3);
        g.reduce_scatter_tensor(rst, torch.arange(3L * g.world_size).to(torch.float32) + 100.0 * g.rank, ReduceOp.Avg);
        results["reduce_scatter_tensor_avg"] = rst;                                   // mean_r (100 r + 3 rank + j)
        g.barrier();
        if (outFile is not null) Checkpoint.Save(outFile, results);
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int p = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    private static void Hang(ProcessGroup g, double seconds, int stallRank)
    {
        g.barrier();
        Console.WriteLine($"rank {g.rank} ready");
        var until = DateTime.UtcNow.AddSeconds(seconds);
        using var t = torch.ones(1024);
        while (DateTime.UtcNow < until)
        {
            if (g.rank == stallRank) { Thread.Sleep(100); continue; }   // alive, but no longer in the collectives
            g.all_reduce(t, ReduceOp.Avg);
            Thread.Sleep(50);
        }
    }
}
