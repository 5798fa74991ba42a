using System.Text;
using System.Text.Json;

namespace AptLab.Notebooks;

/// <summary>
/// One cell of a notebook. <see cref="Number"/> is 1-based over all cells (what a reader counts in an editor);
/// <see cref="Kernel"/> is the kernel the cell runs in ("csharp", "fsharp", "markdown", ...) after the notebook
/// default, the cell metadata and a leading <c>#!kernel</c> line have been applied; <see cref="FileLines"/> holds,
/// for each source line, the 1-based line of the .ipynb file it was read from (for <c>#line</c> mapping).
/// </summary>
public sealed record NotebookCell(int Number, string CellType, string Kernel, IReadOnlyList<string> Lines, IReadOnlyList<int> FileLines)
{
    public bool IsCSharp => CellType == "code" && Kernel == "csharp";
}

/// <summary>
/// A .NET Interactive / Polyglot notebook (.ipynb, nbformat 4; notebooks/README.md). The kernel of a code
/// cell comes from <c>metadata.polyglot_notebook.kernelName</c>, else <c>metadata.dotnet_interactive.language</c>,
/// else the notebook's default kernel (<c>polyglot_notebook.kernelInfo.defaultKernelName</c>, else the kernelspec
/// language), else csharp; a first source line <c>#!name</c> overrides it.
/// </summary>
public sealed class NotebookDocument
{
    public string Path { get; }
    public IReadOnlyList<NotebookCell> Cells { get; }

    private NotebookDocument(string path, IReadOnlyList<NotebookCell> cells) => (Path, Cells) = (path, cells);

    public static NotebookDocument Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"notebook not found: {path}", path);
        return Parse(File.ReadAllBytes(path), System.IO.Path.GetFullPath(path));
    }

    /// <summary>Parses notebook JSON; <paramref name="path"/> names it in errors and in <c>#line</c> directives.</summary>
    public static NotebookDocument Parse(byte[] json, string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new NotebookException(path, null, $"not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new NotebookException(path, null, "the top level is not a JSON object");
            if (!root.TryGetProperty("nbformat", out var fmt) || fmt.ValueKind != JsonValueKind.Number || fmt.GetInt32() != 4)
                throw new NotebookException(path, null, "'nbformat' must be 4 (a Jupyter notebook in the .NET Interactive format)");
            if (!root.TryGetProperty("cells", out var cells) || cells.ValueKind != JsonValueKind.Array)
                throw new NotebookException(path, null, "has no 'cells' array");
            string defaultKernel = DefaultKernel(root);
            var fileLines = SourceLineNumbers(json);
            var result = new List<NotebookCell>();
            int n = 0;
            foreach (var cell in cells.EnumerateArray())
            {
                n++;
                if (cell.ValueKind != JsonValueKind.Object || !cell.TryGetProperty("cell_type", out var typeEl) || typeEl.ValueKind != JsonValueKind.String)
                    throw new NotebookException(path, n, "is not an object with a string 'cell_type'");
                string type = typeEl.GetString()!;
                var (lines, lineNumbers) = SourceLines(cell, n, path, n - 1 < fileLines.Count ? fileLines[n - 1] : []);
                string kernel = type == "code" ? CellKernel(cell, defaultKernel) : type;
                if (type == "code" && lines.Count > 0 && lines[0].TrimStart().StartsWith("#!", StringComparison.Ordinal))
                {
                    var name = lines[0].Trim()[2..].Split(' ', 2)[0];
                    if (IsKernelName(name)) kernel = Normalize(name);
                }
                result.Add(new NotebookCell(n, type, kernel, lines, lineNumbers));
            }
            return new NotebookDocument(path, result);
        }
    }

    // The cell's source as lines (a list of strings, or one string, each possibly holding several lines).
    private static (List<string> Lines, List<int> FileLines) SourceLines(JsonElement cell, int n, string path, IReadOnlyList<int> stringLines)
    {
        var lines = new List<string>();
        var numbers = new List<int>();
        if (!cell.TryGetProperty("source", out var src)) return (lines, numbers);
        var pieces = src.ValueKind switch
        {
            JsonValueKind.String => [src.GetString()!],
            JsonValueKind.Array => src.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
                : throw new NotebookException(path, n, "'source' holds a non-string element")).ToList(),
            _ => throw new NotebookException(path, n, "'source' is neither a string nor a list of strings"),
        };
        // Jupyter's list form: every line but the last ends with "\n"; join and re-split so both forms agree.
        var text = new StringBuilder();
        var startLine = new List<(int Offset, int FileLine)>();
        for (int i = 0; i < pieces.Count; i++)
        {
            startLine.Add((text.Length, i < stringLines.Count ? stringLines[i] : 0));
            text.Append(pieces[i]);
        }
        var all = text.ToString().Replace("\r\n", "\n");
        if (all.Length == 0) return (lines, numbers);
        int offset = 0, piece = 0;
        foreach (var line in all.Split('\n'))
        {
            while (piece + 1 < startLine.Count && startLine[piece + 1].Offset <= offset) piece++;
            lines.Add(line);
            // A string holding several lines maps each of them to the string's own line: the best the file allows.
            numbers.Add(startLine.Count == 0 ? 0 : startLine[piece].FileLine);
            offset += line.Length + 1;
        }
        if (lines.Count > 1 && lines[^1].Length == 0) { lines.RemoveAt(lines.Count - 1); numbers.RemoveAt(numbers.Count - 1); }
        return (lines, numbers);
    }

    // For each cell (in order), the 1-based .ipynb line on which each of its source strings starts.
    private static List<List<int>> SourceLineNumbers(byte[] json)
    {
        var newlines = new List<int>();
        for (int i = 0; i < json.Length; i++) if (json[i] == (byte)'\n') newlines.Add(i);
        int LineOf(long offset)
        {
            int k = newlines.BinarySearch((int)offset);
            return (k < 0 ? ~k : k) + 1;
        }
        var result = new List<List<int>>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth != 1 || reader.TokenType != JsonTokenType.PropertyName || !reader.ValueTextEquals("cells")) continue;
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray) return result;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var lines = new List<int>();
                    result.Add(lines);
                    if (reader.TokenType != JsonTokenType.StartObject) { reader.Skip(); continue; }
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                    {
                        bool isSource = reader.ValueTextEquals("source");
                        reader.Read();
                        if (!isSource) { reader.Skip(); continue; }
                        if (reader.TokenType == JsonTokenType.String) lines.Add(LineOf(reader.TokenStartIndex));
                        else if (reader.TokenType == JsonTokenType.StartArray)
                            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) lines.Add(LineOf(reader.TokenStartIndex));
                        else reader.Skip();
                    }
                }
                return result;
            }
        }
        catch (JsonException) { /* the DOM parse reports malformed JSON */ }
        return result;
    }

    private static string DefaultKernel(JsonElement root)
    {
        if (root.TryGetProperty("metadata", out var md) && md.ValueKind == JsonValueKind.Object)
        {
            if (Str(md, "polyglot_notebook", "kernelInfo", "defaultKernelName") is string k) return Normalize(k);
            if (Str(md, "kernelspec", "language") is string lang) return Normalize(lang);
            if (Str(md, "kernelspec", "name") is string name) return Normalize(name);
        }
        return "csharp";
    }

    private static string CellKernel(JsonElement cell, string fallback) =>
        cell.TryGetProperty("metadata", out var md) && md.ValueKind == JsonValueKind.Object
            ? Normalize(Str(md, "polyglot_notebook", "kernelName") ?? Str(md, "dotnet_interactive", "language") ?? fallback)
            : fallback;

    private static string? Str(JsonElement e, params string[] path)
    {
        foreach (var p in path)
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(p, out e)) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }

    /// <summary>Kernel names as .NET Interactive spells them: C#, c#, .net-csharp and csharp are all "csharp".</summary>
    private static string Normalize(string kernel) => kernel.Trim().ToLowerInvariant() switch
    {
        "c#" or "csharp" or ".net-csharp" or "cs" => "csharp",
        "f#" or "fsharp" or ".net-fsharp" => "fsharp",
        "powershell" or "pwsh" or ".net-pwsh" => "pwsh",
        var other => other,
    };

    private static readonly HashSet<string> KernelNames =
        ["csharp", "c#", "fsharp", "f#", "pwsh", "powershell", "javascript", "js", "html", "sql", "kql", "markdown", "md", "mermaid", "value", "http", "python", "r"];

    private static bool IsKernelName(string name) => KernelNames.Contains(name.ToLowerInvariant());
}
