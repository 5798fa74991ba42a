using System.Text.Json;
using System.Text.Json.Nodes;

namespace AptLab.Bench;

/// <summary>`make bench`: measures the engine (and, as they land, the models) and prints one JSON document.
/// Where Debian's python3-torch is installed, the same measurements run through PyTorch in the same run.
/// Arguments: [--threads N] [--only engine|dit|...] [--out file.json]</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is [DistBench.WorkerArg]) return DistBench.Worker();   // a rank started by DistBench
        if (args is [ShardingBench.WorkerArg]) return ShardingBench.Worker();
        if (args is [AvatarMemoryBench.WorkerArg, var image, var audio, var output]) return AvatarMemoryBench.RunWorker(image, audio, output);
        int threads = 2;
        string? only = null, outFile = null;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                case "--out": outFile = args[++i]; break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
            }
        torch.set_num_threads(threads);

        var report = new JsonObject
        {
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["threads"] = threads,
                ["libtorch"] = torch.version,
                ["dotnet"] = Environment.Version.ToString(),
            },
        };
        foreach (var (name, run) in Benchmarks.All)
        {
            if (only is not null && only != name) continue;
            Console.Error.WriteLine($"bench: {name} ...");
            report[name] = run(threads);
        }
        var json = report.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (outFile is not null) File.WriteAllText(outFile, json);
        return 0;
    }
}
