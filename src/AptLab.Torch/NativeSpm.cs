using System.Runtime.InteropServices;

namespace AptLab.Torch;

/// <summary>P/Invoke declarations of libaptlab_spm (native/src/tokenizer.cpp), SentencePiece kept out of
/// libtorch's symbol namespace.</summary>
internal static unsafe partial class NativeSpm
{
    private const string SpmLib = "aptlab_spm";

    [LibraryImport(SpmLib)] internal static partial IntPtr apt_sp_last_error();
    [LibraryImport(SpmLib)] internal static partial int apt_sp_available();
    [LibraryImport(SpmLib, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr apt_sp_load(string path);
    [LibraryImport(SpmLib)] internal static partial void apt_sp_free(IntPtr sp);
    [LibraryImport(SpmLib)] internal static partial int apt_sp_vocab_size(IntPtr sp);
    [LibraryImport(SpmLib)] internal static partial int apt_sp_special_id(IntPtr sp, int which);
    [LibraryImport(SpmLib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int apt_sp_piece_to_id(IntPtr sp, string piece);
    [LibraryImport(SpmLib)] internal static partial int apt_sp_encode(IntPtr sp, byte* text, int* o, int cap);
    [LibraryImport(SpmLib)] internal static partial int apt_sp_decode(IntPtr sp, int* ids, int n, byte* o, int cap);


    internal static string LastError() => Marshal.PtrToStringUTF8(apt_sp_last_error()) ?? "unknown SentencePiece error";
}
