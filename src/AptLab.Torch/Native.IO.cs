namespace AptLab.Torch;

using System.Runtime.InteropServices;

// Entry points used by weight IO (AptLab.Torch.IO).
internal static unsafe partial class Native
{
    [LibraryImport(Lib)] internal static partial IntPtr apt_as_strided(IntPtr a, long* size, long* stride, int n, long storageOffset);
}
