using System.Text.Json;

namespace AptLab.Data;

/// <summary>
/// The rows of a clip manifest (docs/omnihuman.md#data, docs/omniavatar.md#training): a CSV file with a header (the
/// columns in any order) or JSON Lines (<c>.jsonl</c>: one object per line, string values; null for an optional key
/// means absent). Blank lines and lines starting with # are skipped. Every problem is one
/// <see cref="InvalidDataException"/> naming the file, the line and the column/key: malformed CSV or JSON, an unknown
/// column, a missing required column, a row with the wrong number of fields. <see cref="Field"/> and
/// <see cref="FileField"/> read a row's values with the same kind of message.
/// </summary>
public static class ManifestTable
{
    /// <summary>(1-based line, column -> value) for every row of <paramref name="file"/> (an absolute path).</summary>
    public static List<(int line, Dictionary<string, string> fields)> Read(string file, IReadOnlyList<string> required, IReadOnlyList<string> optional)
    {
        var lines = File.ReadAllLines(file);
        return file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ? ParseJsonl(file, lines, required, optional) : ParseCsv(file, lines, required, optional);
    }

    public static InvalidDataException Error(string file, int line, string column, string problem) =>
        new($"{file}:{line}: column '{column}': {problem}");

    /// <summary>The non-empty value of <paramref name="key"/> in a row.</summary>
    public static string Field(string file, int line, Dictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out var v) && v.Length > 0 ? v : throw Error(file, line, key, "is empty");

    /// <summary>The absolute path of the existing file named by <paramref name="key"/> (relative to the manifest's folder).</summary>
    public static string FileField(string file, int line, Dictionary<string, string> fields, string key)
    {
        var rel = Field(file, line, fields, key);
        var abs = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, rel));
        if (!File.Exists(abs)) throw Error(file, line, key, $"file not found: {abs}");
        return abs;
    }

    private static bool Skip(string line) => string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#');

    private static string Columns(IReadOnlyList<string> required, IReadOnlyList<string> optional) =>
        string.Join(", ", required) + (optional.Count > 0 ? $"; optional: {string.Join(", ", optional)}" : "");

    private static List<(int line, Dictionary<string, string> fields)> ParseCsv(string file, string[] lines, IReadOnlyList<string> required, IReadOnlyList<string> optional)
    {
        int h = Array.FindIndex(lines, l => !Skip(l));
        if (h < 0) throw new InvalidDataException($"{file}: empty manifest (a CSV needs a header: {Columns(required, optional)})");
        var header = CsvLine.Split(lines[h], out var err);
        if (err is not null) throw new InvalidDataException($"{file}:{h + 1}: header: {err}");
        for (int c = 0; c < header.Count; c++)
        {
            var name = header[c].ToLowerInvariant();
            if (!required.Contains(name) && !optional.Contains(name))
                throw new InvalidDataException($"{file}:{h + 1}: column {c + 1} '{header[c]}' is not one of {string.Join(", ", required.Concat(optional))}");
            header[c] = name;
        }
        foreach (var r in required)
            if (!header.Contains(r)) throw new InvalidDataException($"{file}:{h + 1}: the header has no '{r}' column (needs {Columns(required, optional)})");
        var rows = new List<(int, Dictionary<string, string>)>();
        for (int i = h + 1; i < lines.Length; i++)
        {
            if (Skip(lines[i])) continue;
            var f = CsvLine.Split(lines[i], out err);
            if (err is not null) throw new InvalidDataException($"{file}:{i + 1}: {err}");
            if (f.Count != header.Count)
                throw new InvalidDataException($"{file}:{i + 1}: {f.Count} fields, the header has {header.Count} ({string.Join(",", header)})" +
                    (f.Count > header.Count ? "; quote fields that contain commas" : $"; column '{header[f.Count]}' is missing"));
            rows.Add((i + 1, header.Zip(f).ToDictionary(z => z.First, z => z.Second)));
        }
        return rows;
    }

    private static List<(int line, Dictionary<string, string> fields)> ParseJsonl(string file, string[] lines, IReadOnlyList<string> required, IReadOnlyList<string> optional)
    {
        var rows = new List<(int, Dictionary<string, string>)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (Skip(lines[i])) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(lines[i]); }
            catch (JsonException e) { throw new InvalidDataException($"{file}:{i + 1}: column {e.BytePositionInLine + 1}: not valid JSON ({e.Message.Split('.')[0]})"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{file}:{i + 1}: a line must be a JSON object");
                var fields = new Dictionary<string, string>();
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (!required.Contains(p.Name) && !optional.Contains(p.Name))
                        throw Error(file, i + 1, p.Name, $"unknown key (expected {string.Join(", ", required.Concat(optional))})");
                    if (p.Value.ValueKind == JsonValueKind.Null && optional.Contains(p.Name)) continue;
                    if (p.Value.ValueKind is JsonValueKind.True or JsonValueKind.False) { fields[p.Name] = p.Value.GetBoolean() ? "true" : "false"; continue; }
                    if (p.Value.ValueKind != JsonValueKind.String) throw Error(file, i + 1, p.Name, $"must be a string, got {p.Value.ValueKind}");
                    fields[p.Name] = p.Value.GetString()!.Trim();
                }
                foreach (var r in required)
                    if (!fields.ContainsKey(r)) throw Error(file, i + 1, r, "is missing");
                rows.Add((i + 1, fields));
            }
        }
        return rows;
    }
}
