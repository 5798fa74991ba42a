using System.Globalization;
using System.Text;

namespace AptLab.Notebooks;

/// <summary>
/// A small CSV table (header row, comma-separated, RFC 4180 quotes) for notebooks, e.g. a run's comparison.csv
/// (<c>method,steps,nfe,wall_seconds,frechet_distance,sharpness</c>). Columns are looked up by name; errors name the
/// file, the line and the column.
/// </summary>
public sealed class CsvTable
{
    public string Path { get; }
    public IReadOnlyList<string> Columns { get; }
    public IReadOnlyList<string[]> Rows { get; }

    private CsvTable(string path, IReadOnlyList<string> columns, IReadOnlyList<string[]> rows) => (this.Path, Columns, Rows) = (path, columns, rows);

    public static CsvTable Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CSV file not found: {path}", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static CsvTable Parse(string text, string path = "<csv>")
    {
        var records = Records(text, path);
        if (records.Count == 0) throw new InvalidDataException($"{path}: empty (no header row)");
        var header = records[0].Fields;
        var rows = new List<string[]>();
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Length == 1 && fields[0].Length == 0) continue;               // blank line
            if (fields.Length != header.Length)
                throw new InvalidDataException($"{path}: line {line} has {fields.Length} fields, the header has {header.Length} ({string.Join(",", header)})");
            rows.Add(fields);
        }
        return new CsvTable(path, header, rows);
    }

    public int Index(string column)
    {
        for (int i = 0; i < Columns.Count; i++) if (Columns[i] == column) return i;
        throw new KeyNotFoundException($"{Path}: no column '{column}' (has: {string.Join(", ", Columns)})");
    }

    public string[] Column(string column)
    {
        int i = Index(column);
        return Rows.Select(r => r[i]).ToArray();
    }

    /// <summary>The column as numbers (invariant culture; nan, inf, -inf and an empty field as NaN are accepted).</summary>
    public double[] Numbers(string column)
    {
        int i = Index(column);
        return Rows.Select((r, k) => r[i].Trim().ToLowerInvariant() switch
        {
            "" or "nan" => double.NaN,
            "inf" or "+inf" => double.PositiveInfinity,
            "-inf" => double.NegativeInfinity,
            var s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new InvalidDataException($"{Path}: row {k + 1}, column '{column}': '{r[i]}' is not a number"),
        }).ToArray();
    }

    // Splits into records (fields per line, quotes may span lines); returns the 1-based line each record starts on.
    private static List<(int Line, string[] Fields)> Records(string text, string path)
    {
        var result = new List<(int, string[])>();
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, start = 1;
        bool quoted = false, any = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; field.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; any = true; break;
                case ',': fields.Add(field.ToString()); field.Clear(); any = true; break;
                case '\r': break;
                case '\n':
                    fields.Add(field.ToString()); field.Clear();
                    result.Add((start, fields.ToArray())); fields.Clear();
                    start = ++line; any = false;
                    break;
                default: field.Append(c); any = true; break;
            }
        }
        if (quoted) throw new InvalidDataException($"{path}: a quoted field starting on line {start} is never closed");
        if (any || field.Length > 0) { fields.Add(field.ToString()); result.Add((start, fields.ToArray())); }
        return result;
    }
}
