using System.Text;

namespace AptLab.Torch;

/// <summary>
/// A SentencePiece model (<c>spiece.model</c>), through Debian's libsentencepiece loaded in isolation from
/// libtorch (see NativeSpm). Encoding adds no special tokens; thread-safe for concurrent Encode/Decode.
/// </summary>
public sealed unsafe class SentencePieceProcessor : IDisposable
{
    private readonly NativeSpm lib;
    private IntPtr sp;

    public string ModelPath { get; }

    /// <param name="modelPath">a serialized SentencePiece ModelProto</param>
    /// <param name="libraryPath">a specific libaptlab_spm.so (tests); default: the one beside the application</param>
    public SentencePieceProcessor(string modelPath, string? libraryPath = null)
    {
        ModelPath = Path.GetFullPath(modelPath);
        if (!File.Exists(ModelPath)) throw new FileNotFoundException($"SentencePiece model not found: {ModelPath}", ModelPath);
        lib = libraryPath is null ? NativeSpm.Shared : NativeSpm.Open(libraryPath);
        fixed (byte* p = Utf8Z(ModelPath)) sp = lib.load(p);
        if (sp == IntPtr.Zero) throw new InvalidDataException($"cannot load SentencePiece model {ModelPath}: {lib.LastError()}");
    }

    /// <summary>The native library this processor runs in.</summary>
    public string LibraryPath => lib.Path;

    public int VocabSize => lib.vocab_size(Handle);
    public int PadId => lib.special_id(Handle, 0);
    public int UnkId => lib.special_id(Handle, 1);
    public int BosId => lib.special_id(Handle, 2);
    public int EosId => lib.special_id(Handle, 3);

    public int PieceToId(string piece)
    {
        fixed (byte* p = Utf8Z(piece)) return lib.piece_to_id(Handle, p);
    }

    /// <summary>Token ids of UTF-8 <paramref name="text"/> (no BOS/EOS).</summary>
    public int[] Encode(string text)
    {
        var bytes = Utf8Z(text);
        var buf = new int[Math.Max(16, text.Length + 8)];
        while (true)
        {
            int n;
            fixed (byte* t = bytes) fixed (int* o = buf) n = lib.encode(Handle, t, o, buf.Length);
            if (n < 0) throw new InvalidOperationException($"SentencePiece encode failed ({ModelPath}): {lib.LastError()}");
            if (n <= buf.Length) return buf[..n];
            buf = new int[n];
        }
    }

    /// <summary>Text of <paramref name="ids"/> (control ids such as pad/EOS decode to nothing).</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buf = new byte[Math.Max(64, ids.Length * 8)];
        while (true)
        {
            int n;
            fixed (int* i = ids) fixed (byte* o = buf) n = lib.decode(Handle, i, ids.Length, o, buf.Length);
            if (n < 0) throw new InvalidOperationException($"SentencePiece decode failed ({ModelPath}): {lib.LastError()}");
            if (n <= buf.Length) return Encoding.UTF8.GetString(buf, 0, n);
            buf = new byte[n];
        }
    }

    private IntPtr Handle => sp != IntPtr.Zero ? sp : throw new ObjectDisposedException(nameof(SentencePieceProcessor));

    private static byte[] Utf8Z(string s)
    {
        var b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
        return b;
    }

    public void Dispose()
    {
        if (sp != IntPtr.Zero) { lib.free(sp); sp = IntPtr.Zero; }
        GC.SuppressFinalize(this);
    }

    ~SentencePieceProcessor() => Dispose();
}
