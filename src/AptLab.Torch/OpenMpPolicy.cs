using System.Globalization;
using System.Runtime.InteropServices;

namespace AptLab.Torch;

/// <summary>
/// How the engine's CPU threads are set up, fixed before libtorch loads (docs/reliability.md, "Threads and
/// determinism").
/// <para><b>Thread count.</b> <c>APTLAB_THREADS</c> if set, else <c>OMP_NUM_THREADS</c> (the first number of a list), else
/// the cores this process may use. <c>aptlab launch</c> sets <c>OMP_NUM_THREADS = max(1, cores / ranks)</c> for each rank
/// unless the user set it, so ranks share the machine instead of each taking every core. A config's <c>threads: N</c>
/// applies on top (<see cref="UseConfigThreads"/>) unless <c>APTLAB_THREADS</c> is set. The count is also put into the
/// native <c>OMP_NUM_THREADS</c> when that was unset, so that OpenMP and OpenBLAS start with the same pool. Results are
/// bit-identical between runs with the same count, and differ (in the last bits) between counts: libtorch splits its
/// reductions by thread.</para>
/// <para><b>Wait policy.</b> By default OpenMP worker threads spin after every parallel region; next to OpenBLAS's own
/// threads and other processes on a small shared machine they then take the cores from the threads doing the work, and
/// every one of a DiT's hundreds of element-wise ops stalls (measured on the 2-core machine: a Wan DiT forward at the
/// benchmark size took 1.2-1.5 s with spinning threads and 0.5 s with passive ones, in PyTorch and in AptLab alike).
/// AptLab therefore sets <c>OMP_WAIT_POLICY=PASSIVE</c> unless the environment already sets it
/// (<c>OMP_WAIT_POLICY=ACTIVE</c> restores spinning, e.g. on a dedicated machine).</para>
/// </summary>
public static partial class OpenMpPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";
    public const string ThreadsVariable = "OMP_NUM_THREADS";
    public const string OverrideVariable = "APTLAB_THREADS";

    /// <summary>The wait policy in effect for this process ("PASSIVE" unless the environment chose another).</summary>
    public static string WaitPolicy { get; private set; } = "";

    /// <summary>The intra-op thread count chosen at start-up (see the class summary).</summary>
    public static int StartThreads { get; private set; }

    /// <summary>Where the current thread count came from: "APTLAB_THREADS", "OMP_NUM_THREADS", "cores", "config" or
    /// "set_num_threads".</summary>
    public static string ThreadsSource { get; internal set; } = "";

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    /// <summary>The thread count and its source for the given environment values and core count. A value that is not a
    /// positive integer is ignored (with the reason in the source).</summary>
    public static (int threads, string source) ResolveThreads(string? aptlabThreads, string? ompNumThreads, int cores)
    {
        var ignored = "";
        foreach (var (name, value) in new[] { (OverrideVariable, aptlabThreads), (ThreadsVariable, ompNumThreads) })
        {
            if (string.IsNullOrWhiteSpace(value)) continue;
            var first = value.Split(',')[0].Trim();              // OMP_NUM_THREADS may list one count per nesting level
            if (int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0) return (n, name + ignored);
            ignored += $" ({name}='{value}' ignored: not a positive integer)";
        }
        return (Math.Max(1, cores), "cores" + ignored);
    }

    /// <summary>Applies a config's <c>threads</c> (0 = keep the start-up count); <c>APTLAB_THREADS</c> wins over it.
    /// Returns the thread count in effect.</summary>
    public static int UseConfigThreads(int configured)
    {
        if (configured > 0 && !ThreadsSource.StartsWith(OverrideVariable, StringComparison.Ordinal))
        {
            torch.set_num_threads(configured);
            ThreadsSource = "config";
        }
        return torch.get_num_threads();
    }

    /// <summary>Called once by the module initializer, before the first call into the native library.</summary>
    internal static void Apply()
    {
        var (threads, source) = ResolveThreads(Environment.GetEnvironmentVariable(OverrideVariable),
                                               Environment.GetEnvironmentVariable(ThreadsVariable), Environment.ProcessorCount);
        StartThreads = threads;
        ThreadsSource = source;
        var current = Environment.GetEnvironmentVariable(Variable);
        WaitPolicy = string.IsNullOrEmpty(current) ? "PASSIVE" : current;
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            // the native environment libgomp and OpenBLAS read when they load (the managed one is not theirs)
            if (string.IsNullOrEmpty(current)) setenv(Variable, WaitPolicy, 0);
            setenv(ThreadsVariable, threads.ToString(CultureInfo.InvariantCulture), source == ThreadsVariable ? 0 : 1);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            if (string.IsNullOrEmpty(current)) WaitPolicy = "";
        }
    }
}
