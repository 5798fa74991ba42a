using System.Text;
using System.Text.RegularExpressions;

namespace AptLab.Notebooks;

/// <summary>
/// Just enough C# lexing for the notebook converter: each line's code with comments removed and the insides of
/// string and char literals blanked (quotes kept), carrying block comments, verbatim and raw strings across lines.
/// The converter looks only at this code text, so a "class" inside a string or comment is never a declaration.
/// Interpolation holes are treated as string text (good enough to find line starts and ends).
/// </summary>
public static partial class CSharpLines
{
    private enum State { Code, BlockComment, Verbatim, Raw }

    /// <summary>The code text of each line of <paramref name="lines"/> (same count, same order).</summary>
    public static List<string> CodeOnly(IReadOnlyList<string> lines)
    {
        var result = new List<string>(lines.Count);
        var state = State.Code;
        int rawQuotes = 0;
        foreach (var line in lines)
        {
            var sb = new StringBuilder(line.Length);
            int i = 0;
            while (i < line.Length)
            {
                char c = line[i];
                switch (state)
                {
                    case State.BlockComment:
                        if (c == '*' && At(line, i + 1, '/')) { state = State.Code; i += 2; sb.Append(' '); }
                        else i++;
                        continue;
                    case State.Verbatim:
                        if (c == '"' && At(line, i + 1, '"')) i += 2;
                        else if (c == '"') { sb.Append('"'); state = State.Code; i++; }
                        else i++;
                        continue;
                    case State.Raw:
                        if (c == '"' && Run(line, i, '"') >= rawQuotes) { sb.Append('"'); i += rawQuotes; state = State.Code; }
                        else i++;
                        continue;
                }
                if (c == '/' && At(line, i + 1, '/')) break;                          // line comment
                if (c == '/' && At(line, i + 1, '*')) { state = State.BlockComment; i += 2; continue; }
                int prefix = 0;                                                       // $, @, $@, @$, $$ prefixes
                while (i + prefix < line.Length && line[i + prefix] is '$' or '@') prefix++;
                if (i + prefix < line.Length && line[i + prefix] == '"')
                {
                    bool verbatim = line.AsSpan(i, prefix).Contains('@');
                    int q = Run(line, i + prefix, '"');
                    sb.Append(line, i, prefix).Append('"');
                    if (q >= 3)                                                       // raw string literal
                    {
                        rawQuotes = q;
                        int end = line.IndexOf(new string('"', q), i + prefix + q, StringComparison.Ordinal);
                        if (end < 0) { state = State.Raw; i = line.Length; }
                        else { sb.Append('"'); i = end + q; }
                        continue;
                    }
                    if (verbatim) { state = State.Verbatim; i += prefix + 1; continue; }
                    int j = i + prefix + 1;                                           // regular string: ends on this line
                    while (j < line.Length && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
                    sb.Append('"');
                    i = j + 1;
                    continue;
                }
                if (prefix > 0) { sb.Append(line, i, prefix); i += prefix; continue; }
                if (c == '\'')                                                        // char literal
                {
                    int j = i + 1;
                    while (j < line.Length && line[j] != '\'') j += line[j] == '\\' ? 2 : 1;
                    sb.Append("''");
                    i = j + 1;
                    continue;
                }
                sb.Append(c);
                i++;
            }
            result.Add(sb.ToString());
        }
        return result;
    }

    /// <summary>A using directive (not a using statement or declaration): <c>using X.Y;</c>, <c>using static X;</c>,
    /// <c>using A = X.Y;</c>, <c>global using ...;</c>.</summary>
    public static bool IsUsingDirective(string code) => UsingDirective().IsMatch(code);

    /// <summary>The declared type's keyword and name if the code line starts a type declaration
    /// (class, struct, interface, enum, record, delegate, with modifiers), else null.</summary>
    public static string? TypeDeclaration(string code)
    {
        var m = TypeDecl().Match(code);
        return m.Success ? $"{m.Groups["kind"].Value.Trim()} {m.Groups["name"].Value}" : null;
    }

    private static bool At(string s, int i, char c) => i < s.Length && s[i] == c;

    private static int Run(string s, int i, char c)
    {
        int n = 0;
        while (i + n < s.Length && s[i + n] == c) n++;
        return n;
    }

    [GeneratedRegex(@"^\s*(global\s+)?using\s+(static\s+)?(\w+\s*=\s*)?[\w.]+(\s*<[\w.,\s<>]*>)?\s*;\s*$")]
    private static partial Regex UsingDirective();

    // delegate needs a return type then a name: "delegate int F(" (an anonymous "delegate (x) {" is an expression).
    [GeneratedRegex(@"^\s*((public|internal|private|protected|static|sealed|abstract|partial|readonly|file|unsafe|ref|new)\s+)*(?<kind>record\s+struct|record\s+class|class|struct|interface|enum|record|delegate\s+[\w.<>\[\],?]+)\s+(?<name>@?[A-Za-z_]\w*)\s*(?=[<({:;]|$)")]
    private static partial Regex TypeDecl();
}
