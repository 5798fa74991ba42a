namespace AptLab.Torch;

public static partial class torch
{
    /// <summary>Bytes in use on the native C heap (glibc mallinfo2: uordblks + hblkhd, all arenas), where libtorch
    /// keeps CPU tensor storage; -1 where glibc is older than 2.33. For leak tests and memory measurements.</summary>
    public static long native_heap_bytes() => Native.apt_heap_bytes();
}
