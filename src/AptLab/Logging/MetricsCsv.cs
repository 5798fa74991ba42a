using System.Globalization;
using System.Text;

namespace AptLab.Logging;

/// <summary>
/// A run's scalar metrics as CSV in <b>long format</b>: one row per (step, tag), header
/// <c>step,tag,value,wall_time</c>. Long format was chosen so a metric that first appears late (an eval
/// every 500 steps, a loss term switched on in phase 2) never changes the header, and resuming only ever
/// appends. pandas turns it wide with <c>df.pivot_table(index="step", columns="tag", values="value")</c>.
/// Each <see cref="Log(long, string, double)"/> call is one write, flushed. Opening an existing file appends without a
/// second header, drops a partial last line left by a crash, and with a <see cref="ResumePoint"/> drops the rows the
/// resumed stages will log again (per stage and tag; a run restarted from an earlier checkpoint would otherwise log them
/// twice). The file is rewritten atomically.
/// Values: invariant culture, round-trip precision; NaN and infinities as nan, inf, -inf (numpy/pandas read these).
/// </summary>
public sealed class MetricsCsv : IDisposable
{
    public const string Header = "step,tag,value,wall_time";

    /// <summary>Tags under this prefix are timings (stage wall and CPU seconds, throughput); they, and the wall_time
    /// column, are the only parts of a run's metrics that differ between two runs of the same config, seed and thread
    /// count (docs/demo-study.md#determinism).</summary>
    public const string TimingPrefix = "time/";

    /// <summary>Whether <paramref name="tag"/> is a timing (<see cref="TimingPrefix"/>).</summary>
    public static bool IsTiming(string tag) => tag.StartsWith(TimingPrefix, StringComparison.Ordinal);

    private static readonly UTF8Encoding Utf8 = new(false);
    private readonly FileStream stream;
    private readonly Func<double> clock;
    private long committed;                                   // bytes of complete rows in the file
    private readonly object gate = new();

    public string FilePath { get; }

    public MetricsCsv(string path, long? resumeAfterStep = null, Func<double>? clock = null)
        : this(path, resumeAfterStep is long s ? ResumePoint.All(s) : null, clock) { }

    public MetricsCsv(string path, ResumePoint? resume, Func<double>? clock = null)
    {
        FilePath = path;
        this.clock = clock ?? (() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        bool fresh = !File.Exists(path) || new FileInfo(path).Length == 0;
        if (!fresh) PrepareForAppend(path, resume);
        stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, bufferSize: 0);
        committed = stream.Seek(0, SeekOrigin.End);
        if (fresh) lock (gate) Append(Utf8.GetBytes(Header + "\n"));
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
        var bytes = Utf8.GetBytes(sb.ToString());
        lock (gate) Append(bytes);
    }

    // One write of whole rows. On failure (e.g. a full disk) the file is cut back to its last complete row, so later
    // rows (if space comes back) and readers never meet a torn line; the error names the file.
    private void Append(byte[] bytes)
    {
        try
        {
            stream.Write(bytes);
            stream.Flush();
            committed += bytes.Length;
        }
        catch (IOException e)
        {
            try { stream.SetLength(committed); stream.Position = committed; } catch (IOException) { }
            throw new IOException($"{FilePath}: writing metrics failed ({e.Message}); the file keeps its complete rows", e);
        }
    }

    public void Dispose()
    {
        lock (gate) stream.Dispose();                         // unbuffered: nothing left to flush, nothing to throw
    }

    /// <summary>Reads a metrics CSV into per-tag series (rows in file order; a partial last line is ignored), through
    /// the one CSV reader of the project (<see cref="RunReader.ReadSeries"/>).</summary>
    public static MetricsTable Read(string path) => new(path, RunReader.ReadSeries(path));

    // Truncates a partial last line; keeps only the rows the resume point keeps, when given.
    private static void PrepareForAppend(string path, ResumePoint? resume)
    {
        var text = File.ReadAllText(path);
        int firstNewline = text.IndexOf('\n');
        string header = (firstNewline < 0 ? text : text[..firstNewline]).TrimEnd('\r');
        if (header != Header) throw new InvalidDataException($"{path}: cannot append, header is '{header}', expected '{Header}'");
        string kept = text[..(text.LastIndexOf('\n') + 1)];
        if (resume is not null)
        {
            var sb = new StringBuilder(Header).Append('\n');
            foreach (var line in kept.Split('\n').Skip(1))
            {
                if (line.Length == 0) continue;
                var f = line.Split(',');
                if (f.Length >= 2 && long.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long step)
                    && !resume.Keeps(f[1], step)) continue;
                sb.Append(line).Append('\n');
            }
            kept = sb.ToString();
        }
        if (kept.Length == text.Length) return;
        var bytes = new UTF8Encoding(false).GetBytes(kept);
        AptLab.Torch.IO.AtomicFile.Write(path, s => s.Write(bytes));
    }

    private static void CheckTag(string tag)
    {
        if (string.IsNullOrEmpty(tag) || tag.AsSpan().IndexOfAny(",\"\n\r") >= 0)
            throw new ArgumentException($"metric tag '{tag}' must be non-empty and free of commas, quotes and newlines");
    }

    private static string FormatValue(double v) =>
        double.IsNaN(v) ? "nan" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
        : v.ToString("R", CultureInfo.InvariantCulture);
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
