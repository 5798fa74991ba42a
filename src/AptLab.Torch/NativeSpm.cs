using System.Runtime.InteropServices;

namespace AptLab.Torch;

/// <summary>
/// libaptlab_spm (native/src/tokenizer.cpp): SentencePiece behind a C ABI, in a library of its own because
/// Debian's libsentencepiece embeds protobuf-lite 3.14 while libtorch links libprotobuf 3.21: whenever both sets
/// of <c>google::protobuf</c> symbols meet in one lookup scope, SentencePiece's code binds to the wrong protobuf
/// and loading a model aborts ("compiled against version 3.14.0 ... installed version (3.21.12)") or segfaults.
/// <para>.NET opens native libraries RTLD_LOCAL, which happens to keep them apart; but as soon as libtorch sits in
/// the global scope (a host that loaded it RTLD_GLOBAL, an embedded Python with torch, an LD_PRELOAD) a plain load
/// crashes. So the library is opened here with <c>dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)</c>: its own
/// dependencies (libsentencepiece and its protobuf-lite) come first in its symbol lookup, whatever else the
/// process has loaded. The entry points are then called through function pointers (no DllImport resolver).</para>
/// </summary>
internal sealed unsafe partial class NativeSpm
{
    public const string FileName = "libaptlab_spm.so";
    private const int RTLD_NOW = 2, RTLD_LOCAL = 0, RTLD_DEEPBIND = 8;

    private static readonly Lazy<NativeSpm> shared = new(() => Open(Locate()));

    /// <summary>The process-wide instance (opened on first use).</summary>
    public static NativeSpm Shared => shared.Value;

    public string Path { get; }
    internal readonly delegate* unmanaged<IntPtr> last_error;
    internal readonly delegate* unmanaged<byte*, IntPtr> load;
    internal readonly delegate* unmanaged<IntPtr, void> free;
    internal readonly delegate* unmanaged<IntPtr, int> vocab_size;
    internal readonly delegate* unmanaged<IntPtr, int, int> special_id;
    internal readonly delegate* unmanaged<IntPtr, byte*, int> piece_to_id;
    internal readonly delegate* unmanaged<IntPtr, byte*, int*, int, int> encode;
    internal readonly delegate* unmanaged<IntPtr, int*, int, byte*, int, int> decode;

    private NativeSpm(string path, IntPtr h)
    {
        Path = path;
        IntPtr Sym(string name) => NativeLibrary.TryGetExport(h, name, out var p) ? p
            : throw new EntryPointNotFoundException($"{path}: entry point {name} is missing (rebuild with make native)");
        last_error = (delegate* unmanaged<IntPtr>)Sym("apt_sp_last_error");
        load = (delegate* unmanaged<byte*, IntPtr>)Sym("apt_sp_load");
        free = (delegate* unmanaged<IntPtr, void>)Sym("apt_sp_free");
        vocab_size = (delegate* unmanaged<IntPtr, int>)Sym("apt_sp_vocab_size");
        special_id = (delegate* unmanaged<IntPtr, int, int>)Sym("apt_sp_special_id");
        piece_to_id = (delegate* unmanaged<IntPtr, byte*, int>)Sym("apt_sp_piece_to_id");
        encode = (delegate* unmanaged<IntPtr, byte*, int*, int, int>)Sym("apt_sp_encode");
        decode = (delegate* unmanaged<IntPtr, int*, int, byte*, int, int>)Sym("apt_sp_decode");
    }

    /// <summary>Opens the library at <paramref name="path"/> in isolation (RTLD_LOCAL | RTLD_DEEPBIND).</summary>
    public static NativeSpm Open(string path)
    {
        var h = Dl.Open(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
        if (h == IntPtr.Zero) throw new DllNotFoundException($"cannot load the SentencePiece library {path}: {Dl.Error()}");
        return new NativeSpm(path, h);
    }

    internal string LastError() => Marshal.PtrToStringUTF8(last_error()) ?? "unknown SentencePiece error";

    /// <summary>libaptlab_spm.so beside the application or beside this assembly (where the build copies it).</summary>
    private static string Locate()
    {
        var dirs = new[] { AppContext.BaseDirectory, System.IO.Path.GetDirectoryName(typeof(NativeSpm).Assembly.Location) ?? "" };
        foreach (var d in dirs)
        {
            var p = System.IO.Path.Combine(d, FileName);
            if (File.Exists(p)) return p;
        }
        throw new DllNotFoundException($"{FileName} not found in {string.Join(" or ", dirs.Distinct())}: it is built by 'make native' " +
                                       "when Debian's libsentencepiece-dev is installed (the umT5 tokenizer needs it)");
    }

    /// <summary>dlopen/dlerror from glibc (libc.so.6 since glibc 2.34, libdl.so.2 before).</summary>
    private static partial class Dl
    {
        [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
        private static partial IntPtr dlopen_c(string file, int mode);
        [LibraryImport("libc.so.6", EntryPoint = "dlerror")]
        private static partial IntPtr dlerror_c();
        [LibraryImport("libdl.so.2", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
        private static partial IntPtr dlopen_dl(string file, int mode);
        [LibraryImport("libdl.so.2", EntryPoint = "dlerror")]
        private static partial IntPtr dlerror_dl();

        private static bool useLibdl;

        public static IntPtr Open(string file, int mode)
        {
            if (!useLibdl)
                try { return dlopen_c(file, mode); }
                catch (EntryPointNotFoundException) { useLibdl = true; }
            return dlopen_dl(file, mode);
        }

        public static string Error() => Marshal.PtrToStringUTF8(useLibdl ? dlerror_dl() : dlerror_c()) ?? "unknown dlopen error";
    }
}
