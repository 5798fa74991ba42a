using System.Net;
using System.Text;

namespace AptLab.Wan.Text;

/// <summary>How Wan's tokenizer wrapper cleans prompts before tokenising (official <c>clean=</c> option).</summary>
public enum TextClean { None, Whitespace, Lower }

/// <summary>
/// Wan's prompt cleaning (docs/umt5.md#tokenizer, <c>clean='whitespace'</c>): ftfy's fix_text, HTML-unescape twice,
/// strip, collapse every whitespace run to one space, strip.
/// <para>ftfy has no C# port. Its mojibake repair is not reproduced; of its other default fixes only
/// the quote uncurling and NFC are applied here, since SentencePiece's nmt_nfkc normaliser already folds
/// character widths and ligatures. HTML entities: named HTML 4 entities and numeric references with a
/// terminating ';' (Python's html.unescape also accepts HTML5 names and some forms without ';').
/// Whitespace is Python's <c>str.isspace</c> set (Unicode White_Space plus U+001C..U+001F).</para>
/// </summary>
public static class WanTextCleaner
{
    public static string Clean(string text, TextClean mode = TextClean.Whitespace) => mode switch
    {
        TextClean.None => text,
        TextClean.Whitespace => WhitespaceClean(BasicClean(text)),
        TextClean.Lower => WhitespaceClean(BasicClean(text)).ToLowerInvariant(),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    /// <summary>ftfy subset, then HTML-unescape twice, then strip.</summary>
    public static string BasicClean(string text)
    {
        var t = FixText(text);
        t = WebUtility.HtmlDecode(WebUtility.HtmlDecode(t));
        return Strip(t);
    }

    /// <summary>Every run of whitespace becomes one space; then strip.</summary>
    public static string WhitespaceClean(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool inSpace = false;
        foreach (var c in text)
        {
            if (IsPythonSpace(c)) { if (!inSpace) sb.Append(' '); inSpace = true; }
            else { sb.Append(c); inSpace = false; }
        }
        return Strip(sb.ToString());
    }

    /// <summary>The deterministic part of ftfy.fix_text that SentencePiece would not do anyway: curly quotes to
    /// straight ones, then NFC.</summary>
    public static string FixText(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            sb.Append(c switch
            {
                '\u02bc' or (>= '\u2018' and <= '\u201b') => '\'',
                >= '\u201c' and <= '\u201f' => '"',
                _ => c,
            });
        return sb.ToString().Normalize(NormalizationForm.FormC);
    }

    /// <summary>Python's str.isspace: .NET's char.IsWhiteSpace plus the separators U+001C..U+001F.</summary>
    public static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    private static string Strip(string s)
    {
        int a = 0, b = s.Length;
        while (a < b && IsPythonSpace(s[a])) a++;
        while (b > a && IsPythonSpace(s[b - 1])) b--;
        return s[a..b];
    }
}
