using System.Globalization;
using System.Text;

namespace AptLab.Logging;

/// <summary>
/// A run's scalar metrics as CSV in <b>long format</b>: one row per (step, tag), header
/// <c>step,tag,value,wall_time</c>. Long format was chosen so a metric that first appears late (an eval
/// every 500 steps, a loss term switched on in phase 2) never changes the header, and resuming only ever
/// appends. pandas turns it wide with <c>df.pivot_table(index="step", columns="tag", values="value")</c>.
/// Each <see cref="Log(long, string, double)"/> call is flushed. Opening an existing file appends without a
/// second header, drops a partial last line left by a crash, and with <c>resumeAfterStep</c> drops rows of
/// later steps (a run restarted from an earlier checkpoint would otherwise log them twice).
/// Values: invariant culture, round-trip precision; NaN and infinities as nan, inf, -inf (numpy/pandas read these).
/// </summary>
public sealed class MetricsCsv : IDisposable
{
    public const string Header = "step,tag,value,wall_time";

    private readonly StreamWriter writer;
    private readonly Func<double> clock;
    private readonly object gate = new();

    public string FilePath { get; }

    public MetricsCsv(string path, long? resumeAfterStep = null, Func<double>? clock = null)
    {
        FilePath = path;
        this.clock = clock ?? (() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        bool fresh = !File.Exists(path) || new FileInfo(path).Length == 0;
        if (!fresh) PrepareForAppend(path, resumeAfterStep);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" };
        if (fresh) { writer.WriteLine(Header); writer.Flush(); }
    }

    public void Log(long step, string tag, double value) => Log(step, [new KeyValuePair<string, double>(tag, value)]);

    /// <summary>Appends one row per value, all with the same step and wall time, then flushes.</summary>
    public void Log(long step, IEnumerable<KeyValuePair<string, double>> values)
    {
        string time = clock().ToString("F6", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        foreach (var (tag, value) in values)
        {
            CheckTag(tag);
            sb.Append(step.ToString(CultureInfo.InvariantCulture)).Append(',').Append(tag).Append(',')
              .Append(FormatValue(value)).Append(',').Append(time).Append('\n');
        }
        lock (gate)
        {
            writer.Write(sb);
            writer.Flush();
        }
    }

    public void Dispose()
    {
        lock (gate) writer.Dispose();
    }

    /// <summary>Reads a metrics CSV into per-tag series (rows in file order). A partial last line is ignored.</summary>
    public static MetricsTable Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"metrics CSV not found: {path}", path);
        var text = File.ReadAllText(path);
        var lines = text.Split('\n');
        if (lines[0].TrimEnd('\r') != Header) throw new InvalidDataException($"{path}: not a metrics CSV (header is '{lines[0]}', expected '{Header}')");
        bool complete = text.EndsWith('\n');
        var rows = new Dictionary<string, (List<long> S, List<double> V, List<double> T)>();
        var order = new List<string>();
        for (int i = 1; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            var f = line.Split(',');
            if (f.Length != 4 || !long.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long step)
                || !TryParseValue(f[2], out double value) || !double.TryParse(f[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double time))
            {
                if (i == lines.Length - 1 && !complete) break;       // a row cut off by a crash
                throw new InvalidDataException($"{path}: line {i + 1} is not 'step,tag,value,wall_time': '{line}'");
            }
            if (!rows.TryGetValue(f[1], out var r)) { rows[f[1]] = r = ([], [], []); order.Add(f[1]); }
            r.S.Add(step); r.V.Add(value); r.T.Add(time);
        }
        return new MetricsTable(path, order.Select(t => new ScalarSeries(t, rows[t].S.ToArray(), rows[t].V.ToArray(), rows[t].T.ToArray())).ToList());
    }

    // Truncates a partial last line; keeps only rows with step <= resumeAfterStep when given.
    private static void PrepareForAppend(string path, long? resumeAfterStep)
    {
        var text = File.ReadAllText(path);
        int firstNewline = text.IndexOf('\n');
        string header = (firstNewline < 0 ? text : text[..firstNewline]).TrimEnd('\r');
        if (header != Header) throw new InvalidDataException($"{path}: cannot append, header is '{header}', expected '{Header}'");
        string kept = text[..(text.LastIndexOf('\n') + 1)];
        if (resumeAfterStep is long last)
        {
            var sb = new StringBuilder(Header).Append('\n');
            foreach (var line in kept.Split('\n').Skip(1))
            {
                if (line.Length == 0) continue;
                var comma = line.IndexOf(',');
                if (comma > 0 && long.TryParse(line.AsSpan(0, comma), NumberStyles.Integer, CultureInfo.InvariantCulture, out long step) && step > last) continue;
                sb.Append(line).Append('\n');
            }
            kept = sb.ToString();
        }
        if (kept.Length == text.Length) return;
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, kept, new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }

    private static void CheckTag(string tag)
    {
        if (string.IsNullOrEmpty(tag) || tag.AsSpan().IndexOfAny(",\"\n\r") >= 0)
            throw new ArgumentException($"metric tag '{tag}' must be non-empty and free of commas, quotes and newlines");
    }

    private static string FormatValue(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
        : v.ToString("R", CultureInfo.InvariantCulture);

    private static bool TryParseValue(string s, out double v)
    {
        switch (s)
        {
            case "nan": v = double.NaN; return true;
            case "inf": v = double.PositiveInfinity; return true;
            case "-inf": v = double.NegativeInfinity; return true;
            default: return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v);
        }
    }
}

/// <summary>The series of a metrics CSV, by tag.</summary>
public sealed class MetricsTable(string path, IReadOnlyList<ScalarSeries> series)
{
    public IReadOnlyList<ScalarSeries> All { get; } = series;
    public IReadOnlyList<string> Tags => All.Select(s => s.Tag).ToList();

    public ScalarSeries Series(string tag) =>
        All.FirstOrDefault(s => s.Tag == tag) ?? throw new KeyNotFoundException($"{path}: no metric '{tag}' (has: {string.Join(", ", Tags)})");

    public bool Contains(string tag) => All.Any(s => s.Tag == tag);
}
