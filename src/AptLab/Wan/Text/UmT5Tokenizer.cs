namespace AptLab.Wan.Text;

/// <summary>
/// The umT5 tokenizer as Wan calls it (docs/umt5.md#tokenizer): clean the prompt, SentencePiece-encode it, append
/// <c>&lt;/s&gt;</c>, truncate to <see cref="TextLen"/> keeping <c>&lt;/s&gt;</c> last, pad with <c>&lt;pad&gt;</c>
/// (id 0) to <see cref="TextLen"/>, and build the attention mask (1 on real tokens, EOS included).
/// The empty prompt therefore encodes to [1, 0, 0, ...] with length 1.
/// </summary>
public sealed class UmT5Tokenizer : IDisposable
{
    /// <summary>The SentencePiece file of the <c>google/umt5-xxl</c> tokenizer folder that ships with Wan.</summary>
    public const string ModelFileName = "spiece.model";

    private readonly SentencePieceProcessor sp;

    public int TextLen { get; }
    public TextClean Clean { get; }
    public int PadId { get; }
    public int EosId { get; }
    public string ModelPath => sp.ModelPath;
    public int VocabSize => sp.VocabSize;

    /// <param name="path">the <c>spiece.model</c> file, or the tokenizer folder holding it (e.g. <c>google/umt5-xxl</c>)</param>
    /// <param name="textLen">padded length (512 for Wan)</param>
    public UmT5Tokenizer(string path, int textLen = 512, TextClean clean = TextClean.Whitespace)
    {
        if (textLen < 1) throw new ArgumentException($"UmT5Tokenizer: textLen must be at least 1, got {textLen}");
        // a folder (existing, or a missing path without extension such as google/umt5-xxl) holds spiece.model
        var file = Directory.Exists(path) || (!File.Exists(path) && !Path.HasExtension(path)) ? Path.Combine(path, ModelFileName) : path;
        if (!File.Exists(file))
            throw new FileNotFoundException(
                $"umT5 tokenizer model not found: {Path.GetFullPath(file)} (expected the SentencePiece file '{ModelFileName}' " +
                "of the google/umt5-xxl tokenizer folder that ships with the Wan 2.1 weights)", file);
        sp = new SentencePieceProcessor(file);
        (TextLen, Clean) = (textLen, clean);
        PadId = sp.PadId >= 0 ? sp.PadId : 0;
        EosId = sp.EosId >= 0 ? sp.EosId
            : throw new InvalidDataException($"{file}: the SentencePiece model defines no EOS id (umT5 uses </s> = 1)");
    }

    /// <summary>Ids of one prompt: cleaned, encoded, EOS appended, truncated to TextLen (EOS kept). No padding.</summary>
    public int[] EncodeIds(string text)
    {
        var ids = sp.Encode(WanTextCleaner.Clean(text, Clean));
        int n = Math.Min(ids.Length, TextLen - 1);
        var result = new int[n + 1];
        Array.Copy(ids, result, n);
        result[n] = EosId;
        return result;
    }

    /// <summary>Batch of prompts -> ids [B, TextLen] and mask [B, TextLen], both int64.</summary>
    public (Tensor ids, Tensor mask) Tokenize(IReadOnlyList<string> texts)
    {
        var ids = new long[texts.Count * TextLen];
        var mask = new long[texts.Count * TextLen];
        for (int b = 0; b < texts.Count; b++)
        {
            var row = EncodeIds(texts[b]);
            for (int i = 0; i < TextLen; i++)
            {
                bool real = i < row.Length;
                ids[b * TextLen + i] = real ? row[i] : PadId;
                mask[b * TextLen + i] = real ? 1 : 0;
            }
        }
        long[] shape = [texts.Count, TextLen];
        return (torch.tensor(ids, shape), torch.tensor(mask, shape));
    }

    /// <summary>Text of ids (pad and EOS decode to nothing).</summary>
    public string Decode(ReadOnlySpan<int> ids) => sp.Decode(ids);

    public void Dispose() => sp.Dispose();
}
