using System.Runtime.InteropServices;
using System.Text.Json;
using AptLab.Wan.Text;

namespace AptLab.Tests.Wan.Text;

/// <summary>
/// The umT5 tokenizer on a tiny unigram model trained with Debian's spm_train
/// (Fixtures/spm/make_fixture.sh); expected ids come from spm_encode, expected cleaning from Python's stdlib.
/// </summary>
public partial class UmT5TokenizerTests
{
    private static readonly string ModelPath = TestPaths.Fixture("spm/tiny_unigram.model");
    private static readonly JsonElement Cases = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("spm/cases.json"))).RootElement;

    private static IEnumerable<(string text, int[] ids, string[] pieces)> EncodeCases() =>
        Cases.GetProperty("encode").EnumerateArray().Select(e => (
            e.GetProperty("text").GetString()!,
            e.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
            e.GetProperty("pieces").EnumerateArray().Select(v => v.GetString()!).ToArray()));

    [Fact]
    public void SentencePiece_loads_after_libtorch_and_matches_spm_encode()
    {
        using (torch.NewScope()) Assert.Equal(6.0, torch.ones(2, 3).sum().item<double>());   // libtorch is loaded
        using var sp = new SentencePieceProcessor(ModelPath);
        Assert.Equal(256, sp.VocabSize);
        Assert.Equal((0, 1, 2, -1), (sp.PadId, sp.EosId, sp.UnkId, sp.BosId));
        int n = 0;
        foreach (var (text, ids, pieces) in EncodeCases())
        {
            Assert.Equal(ids, sp.Encode(text));
            Assert.Equal(ids, pieces.Select(sp.PieceToId));
            n++;
        }
        Assert.Equal(5, n);
        Assert.Contains(EncodeCases(), c => c.ids.Contains(sp.UnkId));   // the fixture covers unknown characters
    }

    [Fact]
    public void Decode_round_trips_text_without_unknown_characters()
    {
        using var tok = new UmT5Tokenizer(ModelPath, textLen: 64);
        foreach (var (text, ids, _) in EncodeCases())
        {
            if (ids.Contains(2)) continue;
            var expected = text.Normalize(System.Text.NormalizationForm.FormKC);   // the model's nmt_nfkc normaliser
            Assert.Equal(expected, tok.Decode(tok.EncodeIds(text)));                 // EOS decodes to nothing
        }
    }

    [Fact]
    public void Tokenize_appends_eos_pads_masks_and_truncates()
    {
        using var _ = torch.NewScope();
        using var tok = new UmT5Tokenizer(ModelPath, textLen: 12);
        var (text, ids, _) = EncodeCases().First();                                  // 7 tokens
        var (t, m) = tok.Tokenize([text, "", "  "]);
        Assert.Equal(new long[] { 3, 12 }, t.shape);
        Assert.Equal(ScalarType.Int64, t.dtype);
        long[] row0 = [.. ids.Select(v => (long)v), 1, 0, 0, 0, 0];
        Assert.Equal(row0, t[0].data<long>());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0 }, m[0].data<long>());
        Assert.Equal(new long[] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, t[1].data<long>());   // "" -> [</s>, pad...]
        Assert.Equal(new long[] { 8, 1, 1 }, T5Encoder.SeqLens(m));

        using var shortTok = new UmT5Tokenizer(ModelPath, textLen: 5);
        var cut = shortTok.EncodeIds(text);
        Assert.Equal([.. ids[..4], 1], cut);                                          // truncated, EOS kept last
    }

    [Fact]
    public void A_folder_holding_spiece_model_is_accepted_and_a_missing_model_is_named()
    {
        using var dir = TestPaths.Temp();
        File.Copy(ModelPath, dir.File(UmT5Tokenizer.ModelFileName));
        using (var tok = new UmT5Tokenizer(dir.Path)) Assert.Equal(256, tok.VocabSize);

        var missing = Path.Combine(dir.Path, "google", "umt5-xxl");
        var e = Assert.Throws<FileNotFoundException>(() => new UmT5Tokenizer(missing));
        Assert.Contains(Path.Combine(missing, "spiece.model"), e.Message);
        var bad = dir.File("not-a-model.model");
        File.WriteAllText(bad, "this is not a protobuf");
        var e2 = Assert.Throws<InvalidDataException>(() => new UmT5Tokenizer(bad));
        Assert.Contains("not-a-model.model", e2.Message);
    }

    [Fact]
    public void Cleaning_matches_Pythons_html_and_whitespace_handling()
    {
        int n = 0;
        foreach (var c in Cases.GetProperty("clean").EnumerateArray())
        {
            Assert.Equal(c.GetProperty("cleaned").GetString(), WanTextCleaner.Clean(c.GetProperty("text").GetString()!));
            n++;
        }
        Assert.Equal(8, n);
        Assert.Equal("\"quoted\" it's", WanTextCleaner.Clean("\u201cquoted\u201d it\u2019s"));   // ftfy's uncurl_quotes
    }

    [Fact]
    public void Text_encoder_returns_trimmed_contexts_equal_to_unpadded_runs()
    {
        using var _ = torch.NewScope();
        using var noGrad = torch.no_grad();
        using var tok = new UmT5Tokenizer(ModelPath, textLen: 32);
        using var enc = new T5Encoder(T5EncoderConfig.Tiny with { Vocab = 256, TextLen = 32 }, generator: new Generator(11));
        var te = new UmT5TextEncoder(tok, enc);
        string[] prompts = ["A cat runs over the river.", ""];
        var ctx = te.Encode(prompts);
        Assert.Equal(8, ctx[0].size(0));
        Assert.Equal(1, ctx[1].size(0));
        var ids = tok.EncodeIds(prompts[0]).Select(v => (long)v).ToArray();
        var alone = enc.forward(torch.tensor(ids, 1, ids.Length));
        Assert.True(RefCompare.RelErr(ctx[0], alone[0]) < 1e-5);
        var padded = te.EncodePadded(prompts);
        Assert.Equal(new long[] { 2, 32, 32 }, padded.shape);
        Assert.Equal(0.0, padded[0].narrow(0, 8, 24).abs().sum().item<double>());
        Assert.True(RefCompare.RelErr(padded[0].narrow(0, 0, 8), ctx[0]) < 1e-6);
    }

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr dlopen(string file, int mode);

    /// <summary>
    /// libtorch in the global symbol scope (as a host that dlopens it RTLD_GLOBAL would put it) must not break
    /// SentencePiece: promote the loaded shim and its dependencies (libtorch, libprotobuf 3.21) to global, then
    /// load a fresh copy of libaptlab_spm. A plain dlopen of the library aborts or segfaults here
    /// ("compiled against version 3.14.0 of the Protocol Buffer runtime"); the isolated load must work.
    /// Decisive when it is the first test to load SentencePiece in the process (run it alone: checked to fail
    /// without RTLD_DEEPBIND); later, libsentencepiece is already loaded and bound, and the copy reuses it.
    /// </summary>
    [Fact]
    public void SentencePiece_survives_libtorch_in_the_global_symbol_scope()
    {
        using (torch.NewScope()) Assert.Equal(2.0, torch.ones(2).sum().item<double>());
        const int RTLD_LAZY = 1, RTLD_NOLOAD = 4, RTLD_GLOBAL = 0x100;
        var shim = Path.Combine(AppContext.BaseDirectory, "libaptlab_native.so");
        Assert.NotEqual(IntPtr.Zero, dlopen(shim, RTLD_LAZY | RTLD_NOLOAD | RTLD_GLOBAL));
        using var dir = TestPaths.Temp();
        var copy = dir.File("libaptlab_spm_copy.so");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "libaptlab_spm.so"), copy);
        using var sp = new SentencePieceProcessor(ModelPath, libraryPath: copy);
        Assert.Equal(copy, sp.LibraryPath);
        var (text, ids, _) = EncodeCases().First();
        Assert.Equal(ids, sp.Encode(text));
    }
}
