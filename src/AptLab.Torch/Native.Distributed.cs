using System.Runtime.InteropServices;

namespace AptLab.Torch;

// c10d process groups (native/src/distributed.cpp), used by AptLab.Torch.Distributed.
internal static unsafe partial class Native
{
    [LibraryImport(Lib)] internal static partial IntPtr apt_c10d_backends();
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr apt_pg_new(string backend, string host, int port, int rank, int size, long timeoutMs,
                                              string prefix, string deviceIface, string deviceHost);
    [LibraryImport(Lib)] internal static partial void apt_pg_free(IntPtr g);
    [LibraryImport(Lib)] internal static partial int apt_pg_allreduce(IntPtr g, IntPtr t, int op);
    [LibraryImport(Lib)] internal static partial int apt_pg_broadcast(IntPtr g, IntPtr t, int root);
    [LibraryImport(Lib)] internal static partial int apt_pg_allgather(IntPtr g, IntPtr t, IntPtr* o, int cap);
    [LibraryImport(Lib)] internal static partial int apt_pg_reduce_scatter(IntPtr g, IntPtr output, IntPtr* inputs, int n, int op, int* usedNative);
    [LibraryImport(Lib)] internal static partial int apt_pg_allgather_into(IntPtr g, IntPtr output, IntPtr input);
    [LibraryImport(Lib)] internal static partial int apt_pg_reduce_scatter_flat(IntPtr g, IntPtr output, IntPtr input, int op);
    [LibraryImport(Lib)] internal static partial int apt_pg_barrier(IntPtr g);
}
