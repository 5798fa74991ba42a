namespace AptLab.Torch;

public static partial class torch
{
    /// <summary>Bytes in use on the native C heap (glibc mallinfo2: uordblks + hblkhd, all arenas), where libtorch
    /// keeps CPU tensor storage; -1 where glibc is older than 2.33. For leak tests and memory measurements.</summary>
    public static long native_heap_bytes() => Native.apt_heap_bytes();

    /// <summary>Bytes of CPU tensor storage alive now (torch.cuda.memory_allocated's CPU counterpart): counted by the
    /// shim's CPU allocator at every allocation and free, so it is the storage of the tensors that exist (parameters,
    /// gradients, optimizer state, activations, gathered buffers), not a sum over shapes. Memory-mapped weights and
    /// storage created before the shim loaded are not counted.</summary>
    public static long cpu_memory_allocated() => Native.apt_cpu_memory_allocated();

    /// <summary>The largest <see cref="cpu_memory_allocated"/> since the process started or the last
    /// <see cref="cpu_reset_peak_memory_stats"/>.</summary>
    public static long cpu_max_memory_allocated() => Native.apt_cpu_max_memory_allocated();

    /// <summary>Restarts the peak of <see cref="cpu_max_memory_allocated"/> at the current figure.</summary>
    public static void cpu_reset_peak_memory_stats() => Native.apt_cpu_reset_peak_memory_stats();

    /// <summary>
    /// Returns the free memory of the native C heap to the operating system (glibc <c>malloc_trim(0)</c>; nothing where
    /// the C library has no such call). glibc keeps freed tensor storage in its heap for reuse: without this the
    /// resident set of a long loop of equal steps creeps up as that free space fragments (docs/omniavatar.md#long-audio).
    /// The live tensors are untouched. Returns true when memory was released.
    /// </summary>
    public static bool native_heap_trim()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return Native.malloc_trim(0) != 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }
}

