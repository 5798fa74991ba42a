using System.Runtime.InteropServices;

namespace AptLab.Torch;

internal static partial class Native
{
    [LibraryImport(Lib)] internal static partial long apt_heap_bytes();
}
