using System.Text.Json.Nodes;

namespace AptLab.Bench;

/// <summary>The registered benchmarks, in the order they run.</summary>
public static class Benchmarks
{
    public static readonly List<(string name, Func<int, JsonNode> run)> All = new()
    {
        ("engine", EngineBench.Run),
        ("dist", DistBench.Run),
        ("dit", DitBench.Run),
        ("clip", ClipBench.Run),
        ("eval", EvalBench.Run),
        ("precision", PrecisionBench.Run),
        ("sharding", ShardingBench.Run),
        ("avatar_memory", AvatarMemoryBench.Run),
    };
}
