using System.Runtime.InteropServices;

namespace AptLab.Torch;

internal static partial class Native
{
    [LibraryImport(Lib)] internal static partial long apt_heap_bytes();
    [LibraryImport(Lib)] internal static partial long apt_cpu_memory_allocated();
    [LibraryImport(Lib)] internal static partial long apt_cpu_max_memory_allocated();
    [LibraryImport(Lib)] internal static partial void apt_cpu_reset_peak_memory_stats();
    [LibraryImport("libc", EntryPoint = "malloc_trim")] internal static partial int malloc_trim(nuint pad);
}
