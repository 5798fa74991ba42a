using System.Runtime.InteropServices;

namespace AptLab.Torch;

/// <summary>
/// libgomp's thread wait policy, fixed before libtorch loads. By default OpenMP worker threads spin after every
/// parallel region; next to OpenBLAS's own threads and other processes on a small shared machine they then take
/// the cores from the threads doing the work, and every one of a DiT's hundreds of element-wise ops stalls (measured
/// on the 2-core machine: a Wan DiT forward at the benchmark size took 1.2-1.5 s with spinning threads and 0.5 s
/// with passive ones, in PyTorch and in AptLab alike). AptLab therefore sets <c>OMP_WAIT_POLICY=PASSIVE</c> unless
/// the environment already sets it (<c>OMP_WAIT_POLICY=ACTIVE</c> restores spinning, e.g. on a dedicated machine).
/// </summary>
public static partial class OpenMpPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";

    /// <summary>The wait policy in effect for this process ("PASSIVE" unless the environment chose another).</summary>
    public static string WaitPolicy { get; private set; } = "";

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    /// <summary>Called once by the module initializer, before the first call into the native library.</summary>
    internal static void Apply()
    {
        var current = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(current)) { WaitPolicy = current; return; }
        WaitPolicy = "PASSIVE";
        if (!OperatingSystem.IsLinux()) return;
        try { setenv(Variable, WaitPolicy, 0); }                 // the native environment libgomp reads when it loads
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { WaitPolicy = ""; }
    }
}
