using System.Globalization;
using System.Net;

namespace AptLab.Torch.Distributed;

/// <summary>
/// Where and how a process joins its group: the torchrun conventions (MASTER_ADDR, MASTER_PORT, RANK,
/// WORLD_SIZE, LOCAL_RANK) or explicit values. Rank 0 hosts the TCPStore rendezvous at MasterAddr:MasterPort.
/// <see cref="Timeout"/> bounds the rendezvous and every collective: a dead or silent peer becomes a
/// <see cref="DistributedException"/> after it, not a hang.
/// </summary>
public sealed record DistributedOptions
{
    public const string DefaultBackend = "gloo";

    /// <summary>"gloo" (CPU) or "nccl" (a shim built against a CUDA libtorch).</summary>
    public string Backend { get; init; } = DefaultBackend;
    public string MasterAddr { get; init; } = "127.0.0.1";
    public int MasterPort { get; init; } = 29500;
    public int Rank { get; init; }
    public int WorldSize { get; init; } = 1;
    public int LocalRank { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);
    /// <summary>Network interface Gloo binds to (GLOO_SOCKET_IFNAME); null picks one from MasterAddr.</summary>
    public string? SocketInterface { get; init; }
    /// <summary>Key prefix inside the store, so that several groups can share one rendezvous.</summary>
    public string StorePrefix { get; init; } = "aptlab/default_pg";

    /// <summary>Reads the torchrun variables; missing RANK/WORLD_SIZE mean a single process (rank 0 of 1).
    /// APTLAB_DIST_BACKEND and APTLAB_DIST_TIMEOUT (seconds) override the backend and timeout.</summary>
    public static DistributedOptions FromEnvironment(Func<string, string?>? getenv = null)
    {
        getenv ??= Environment.GetEnvironmentVariable;
        var o = new DistributedOptions
        {
            Backend = getenv("APTLAB_DIST_BACKEND") is { Length: > 0 } b ? b : DefaultBackend,
            MasterAddr = getenv("MASTER_ADDR") is { Length: > 0 } a ? a : "127.0.0.1",
            MasterPort = Int("MASTER_PORT", 29500),
            Rank = Int("RANK", 0),
            WorldSize = Int("WORLD_SIZE", 1),
            LocalRank = Int("LOCAL_RANK", 0),
            Timeout = getenv("APTLAB_DIST_TIMEOUT") is { Length: > 0 } t
                ? TimeSpan.FromSeconds(Parse("APTLAB_DIST_TIMEOUT", t))
                : TimeSpan.FromMinutes(30),
            SocketInterface = getenv("GLOO_SOCKET_IFNAME") is { Length: > 0 } i ? i : null,
        };
        o.Validate();
        return o;

        int Int(string name, int fallback) => getenv(name) is { Length: > 0 } s ? (int)Parse(name, s) : fallback;
    }

    private static double Parse(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new ArgumentException($"environment variable {name}='{value}' is not a number");

    /// <summary>True when this process is one of several (WORLD_SIZE > 1).</summary>
    public bool IsDistributed => WorldSize > 1;

    public void Validate()
    {
        if (Backend is not ("gloo" or "nccl")) throw new ArgumentException($"distributed backend '{Backend}' is unknown (gloo, nccl)");
        if (WorldSize < 1) throw new ArgumentException($"WORLD_SIZE={WorldSize} must be at least 1");
        if (Rank < 0 || Rank >= WorldSize) throw new ArgumentException($"RANK={Rank} must lie in [0, WORLD_SIZE={WorldSize})");
        if (LocalRank < 0) throw new ArgumentException($"LOCAL_RANK={LocalRank} must not be negative");
        if (MasterPort is < 1 or > 65535) throw new ArgumentException($"MASTER_PORT={MasterPort} is not a TCP port");
        if (string.IsNullOrWhiteSpace(MasterAddr)) throw new ArgumentException("MASTER_ADDR is empty");
        if (Timeout <= TimeSpan.Zero) throw new ArgumentException($"distributed timeout {Timeout} must be positive");
    }

    /// <summary>The address Gloo binds this rank to: loopback when the master is local, else the host's default.</summary>
    internal string DeviceHost =>
        MasterAddr == "localhost" || (IPAddress.TryParse(MasterAddr, out var ip) && IPAddress.IsLoopback(ip)) ? "127.0.0.1" : "";
}
