using System.Text.Json;

namespace AptLab.Notebooks;

/// <summary>One output of an executed cell: its type (stream, display_data, execute_result, error), the data by
/// MIME type (image/png as base64, text/html, text/plain), a stream's text, an error's name and value.</summary>
public sealed record CellOutput(string OutputType, IReadOnlyDictionary<string, string> Data, string Text, string ErrorName, string ErrorValue)
{
    public bool IsError => OutputType == "error";
}

/// <summary>A cell of a notebook: its 0-based index, type, source, metadata tags and (once executed) outputs.</summary>
public sealed record NotebookCell(int Index, string CellType, string Source, IReadOnlyList<string> Tags, IReadOnlyList<CellOutput> Outputs)
{
    public IEnumerable<CellOutput> WithMime(string mime) => Outputs.Where(o => o.Data.ContainsKey(mime));
}

/// <summary>
/// A Jupyter notebook (.ipynb, nbformat 4) as the .NET Interactive kernel executes it: its cells, their tags
/// (<c>metadata.tags</c>) and outputs. Used to check an executed notebook (errors, the image/png and text/html
/// outputs a cell displayed) and by `aptlab notebook run` to report the cells that failed.
/// </summary>
public sealed class NotebookOutputs
{
    public string Path { get; }
    public IReadOnlyList<NotebookCell> Cells { get; }

    private NotebookOutputs(string path, IReadOnlyList<NotebookCell> cells) => (Path, Cells) = (path, cells);

    public IEnumerable<NotebookCell> CodeCells => Cells.Where(c => c.CellType == "code");

    /// <summary>Every error output, with the cell it came from.</summary>
    public IEnumerable<(NotebookCell Cell, CellOutput Error)> Errors =>
        Cells.SelectMany(c => c.Outputs.Where(o => o.IsError).Select(o => (c, o)));

    /// <summary>The code cell tagged <paramref name="tag"/> (exactly one).</summary>
    public NotebookCell Tagged(string tag)
    {
        var cells = Cells.Where(c => c.Tags.Contains(tag)).ToList();
        return cells.Count == 1 ? cells[0] : throw new NotebookException(Path, null, $"{cells.Count} cells are tagged '{tag}', expected one");
    }

    public static NotebookOutputs Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"notebook not found: {path}", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new NotebookException(path, null, $"not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (!root.TryGetProperty("nbformat", out var fmt) || fmt.ValueKind != JsonValueKind.Number || fmt.GetInt32() != 4)
                throw new NotebookException(path, null, "'nbformat' must be 4");
            if (!root.TryGetProperty("cells", out var cells) || cells.ValueKind != JsonValueKind.Array)
                throw new NotebookException(path, null, "has no 'cells' array");
            var list = new List<NotebookCell>();
            int i = 0;
            foreach (var c in cells.EnumerateArray())
            {
                var tags = c.TryGetProperty("metadata", out var md) && md.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Array
                    ? t.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : [];
                var outputs = c.TryGetProperty("outputs", out var outs) && outs.ValueKind == JsonValueKind.Array
                    ? outs.EnumerateArray().Select(Output).ToList() : [];
                list.Add(new NotebookCell(i++, Str(c, "cell_type"), Text(c, "source"), tags, outputs));
            }
            return new NotebookOutputs(System.IO.Path.GetFullPath(path), list);
        }
    }

    private static CellOutput Output(JsonElement o)
    {
        var data = new Dictionary<string, string>();
        if (o.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object)
            foreach (var p in d.EnumerateObject()) data[p.Name] = Joined(p.Value);
        return new CellOutput(Str(o, "output_type"), data, Text(o, "text"), Str(o, "ename"), Str(o, "evalue"));
    }

    private static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    private static string Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? Joined(v) : "";

    // nbformat stores multi-line strings as a string or a list of lines.
    private static string Joined(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Array => string.Concat(v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString() : x.ToString())),
        _ => v.ToString(),
    };
}
