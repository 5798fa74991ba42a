using System.Globalization;
using CsvHelper;
using Microsoft.Data.Analysis;
using YamlDotNet.RepresentationModel;

namespace AptLab.Logging;

/// <summary>
/// Reads a run folder (<c>results/&lt;experiment&gt;/&lt;run-id&gt;/</c>) without writing into it: <c>metrics.csv</c>
/// (long format <c>step,tag,value,wall_time</c>), <c>comparison.csv</c> and the resolved <c>config.yaml</c> as
/// Microsoft.Data.Analysis DataFrames, plus per-tag series for plotting. CSV is parsed by CsvHelper; a partial last
/// row (a run still writing, or killed mid-line) is ignored; nan, inf and -inf are read as such.
/// </summary>
public sealed class RunReader
{
    public string Root { get; }
    /// <summary>"experiment/run-id".</summary>
    public string Name { get; }

    private IReadOnlyList<ScalarSeries>? series;
    private DataFrame? metrics;

    private RunReader(string root)
    {
        Root = root;
        Name = Path.GetFileName(Path.GetDirectoryName(root)) + "/" + Path.GetFileName(root);
    }

    public static RunReader Open(string runDir)
    {
        var full = Path.GetFullPath(runDir).TrimEnd(Path.DirectorySeparatorChar);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"run folder not found: {full}");
        return new RunReader(full);
    }

    public string MetricsPath => Path.Combine(Root, "metrics.csv");
    public string ComparisonPath => Path.Combine(Root, "comparison.csv");
    public string ConfigPath => Path.Combine(Root, "config.yaml");
    public bool HasComparison => File.Exists(ComparisonPath);

    /// <summary>metrics.csv as a DataFrame: step (long), tag (string), value (double), wall_time (double).</summary>
    public DataFrame Metrics()
    {
        if (metrics is not null) return metrics;
        var rows = ReadMetricRows(MetricsPath);
        return metrics = new DataFrame(
            new Int64DataFrameColumn("step", rows.Select(r => r.Step)),
            new StringDataFrameColumn("tag", rows.Select(r => r.Tag)),
            new DoubleDataFrameColumn("value", rows.Select(r => r.Value)),
            new DoubleDataFrameColumn("wall_time", rows.Select(r => r.WallTime)));
    }

    /// <summary>Every tag's series, in the order the tags first appear.</summary>
    public IReadOnlyList<ScalarSeries> AllSeries() => series ??= SeriesOf(ReadMetricRows(MetricsPath));

    /// <summary>The per-tag series of a metrics CSV at <paramref name="path"/> (any file name; <see cref="MetricsCsv.Read"/>).</summary>
    public static IReadOnlyList<ScalarSeries> ReadSeries(string path) => SeriesOf(ReadMetricRows(path));

    private static IReadOnlyList<ScalarSeries> SeriesOf(List<MetricRow> rows)
    {
        var byTag = new Dictionary<string, (List<long> S, List<double> V, List<double> T)>();
        var order = new List<string>();
        foreach (var row in rows)
        {
            if (!byTag.TryGetValue(row.Tag, out var r)) { byTag[row.Tag] = r = ([], [], []); order.Add(row.Tag); }
            r.S.Add(row.Step); r.V.Add(row.Value); r.T.Add(row.WallTime);
        }
        return order.Select(t => new ScalarSeries(t, byTag[t].S.ToArray(), byTag[t].V.ToArray(), byTag[t].T.ToArray())).ToList();
    }

    public IReadOnlyList<string> Tags => AllSeries().Select(s => s.Tag).ToList();

    public bool Contains(string tag) => AllSeries().Any(s => s.Tag == tag);

    public ScalarSeries Series(string tag) =>
        AllSeries().FirstOrDefault(s => s.Tag == tag) ?? throw new KeyNotFoundException($"{MetricsPath}: no metric '{tag}' (has: {string.Join(", ", Tags)})");

    /// <summary>One row per tag: points, last step, last value, minimum and the step it was reached at.</summary>
    public DataFrame Summary()
    {
        var all = AllSeries();
        var argmin = all.Select(s => s.Values.Length == 0 ? 0 : Array.IndexOf(s.Values, s.Values.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min()) is var i && i >= 0 ? i : 0).ToList();
        return new DataFrame(
            new StringDataFrameColumn("tag", all.Select(s => s.Tag)),
            new Int64DataFrameColumn("points", all.Select(s => (long)s.Values.Length)),
            new Int64DataFrameColumn("last_step", all.Select(s => s.Steps[^1])),
            new DoubleDataFrameColumn("last", all.Select(s => s.Values[^1])),
            new DoubleDataFrameColumn("min", all.Select((s, k) => s.Values[argmin[k]])),
            new Int64DataFrameColumn("min_step", all.Select((s, k) => s.Steps[argmin[k]])));
    }

    /// <summary>comparison.csv: kind, method (strings), steps, nfe (long), wall_seconds, frechet_distance, sharpness
    /// (double); a table without a kind column gets kind "" everywhere.</summary>
    public DataFrame Comparison()
    {
        if (!HasComparison) throw new FileNotFoundException($"no comparison.csv in {Root} (did the run reach its comparison?)", ComparisonPath);
        using var csv = Csv(ComparisonPath);
        var header = csv.Headers;
        if (header.Count == 0) throw new InvalidDataException($"{ComparisonPath}: empty (no header row)");
        foreach (var need in new[] { "method", "steps", "nfe", "wall_seconds", "frechet_distance", "sharpness" })
            if (!header.Contains(need)) throw new InvalidDataException($"{ComparisonPath}: no column '{need}' (has: {string.Join(", ", header)})");
        bool hasKind = header.Contains("kind");
        var (kind, method) = (new List<string>(), new List<string>());
        var (steps, nfe) = (new List<long>(), new List<long>());
        var (wall, fd, sharp) = (new List<double>(), new List<double>(), new List<double>());
        while (csv.Read())
        {
            kind.Add(hasKind ? csv.GetString("kind") : "");
            method.Add(csv.GetString("method"));
            steps.Add(Long(csv, "steps"));
            nfe.Add(Long(csv, "nfe"));
            wall.Add(Number(csv, "wall_seconds"));
            fd.Add(Number(csv, "frechet_distance"));
            sharp.Add(Number(csv, "sharpness"));
        }
        return new DataFrame(new StringDataFrameColumn("kind", kind), new StringDataFrameColumn("method", method),
            new Int64DataFrameColumn("steps", steps), new Int64DataFrameColumn("nfe", nfe), new DoubleDataFrameColumn("wall_seconds", wall),
            new DoubleDataFrameColumn("frechet_distance", fd), new DoubleDataFrameColumn("sharpness", sharp));
    }

    /// <summary>config.yaml flattened to key/value rows ("apt.image.updates", "150"); lists of scalars as "[a, b]".</summary>
    public DataFrame Config()
    {
        var flat = ConfigValues();
        return new DataFrame(new StringDataFrameColumn("key", flat.Keys), new StringDataFrameColumn("value", flat.Values));
    }

    /// <summary>config.yaml as flat keys (file order); empty when the run has no config.yaml.</summary>
    public IReadOnlyDictionary<string, string> ConfigValues()
    {
        var result = new Dictionary<string, string>();
        if (!File.Exists(ConfigPath)) return result;
        var yaml = new YamlStream();
        try { yaml.Load(new StringReader(File.ReadAllText(ConfigPath))); }
        catch (YamlDotNet.Core.YamlException e) { throw new InvalidDataException($"{ConfigPath}:{e.Start.Line}: not valid YAML ({e.Message})", e); }
        if (yaml.Documents.Count > 0) Flatten(yaml.Documents[0].RootNode, "", result);
        return result;
    }

    /// <summary>The files under <paramref name="subfolder"/> (e.g. checkpoints, samples) matching <paramref name="pattern"/>:
    /// path relative to the run, bytes.</summary>
    public DataFrame Files(string subfolder, string pattern = "*")
    {
        var dir = Path.Combine(Root, subfolder);
        var files = Directory.Exists(dir) ? Directory.GetFiles(dir, pattern, SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList() : [];
        return new DataFrame(new StringDataFrameColumn("file", files.Select(f => Path.GetRelativePath(Root, f))),
                             new Int64DataFrameColumn("bytes", files.Select(f => new FileInfo(f).Length)));
    }

    /// <summary>The last value of each tag in each run: a tag column and one column per run (NaN where a run lacks
    /// the tag). Default tags: those every run has.</summary>
    public static DataFrame FinalValues(IReadOnlyList<RunReader> runs, IReadOnlyList<string>? tags = null) =>
        PerRun(runs, tags, s => s.Values[^1]);

    /// <summary>The mean over the last quarter of each tag's steps (less noisy than one adversarial step), per run.</summary>
    public static DataFrame TailMeans(IReadOnlyList<RunReader> runs, IReadOnlyList<string>? tags = null) =>
        PerRun(runs, tags, TailMean);

    /// <summary>The mean of the values logged in the last quarter of the series' step range.</summary>
    public static double TailMean(ScalarSeries s)
    {
        long from = s.Steps[0] + (s.Steps[^1] - s.Steps[0]) * 3 / 4;
        return s.Steps.Zip(s.Values).Where(p => p.First >= from).Average(p => p.Second);
    }

    /// <summary>The tags every one of <paramref name="runs"/> logged, in the first run's order.</summary>
    public static IReadOnlyList<string> CommonTags(IReadOnlyList<RunReader> runs) =>
        runs.Skip(1).Aggregate((IEnumerable<string>)runs[0].Tags, (acc, r) => acc.Intersect(r.Tags)).ToList();

    private static DataFrame PerRun(IReadOnlyList<RunReader> runs, IReadOnlyList<string>? tags, Func<ScalarSeries, double> value)
    {
        if (runs.Count == 0) throw new ArgumentException("no runs to compare");
        tags ??= CommonTags(runs);
        var columns = new List<DataFrameColumn> { new StringDataFrameColumn("tag", tags) };
        var names = new HashSet<string>();
        foreach (var r in runs)
        {
            var name = r.Name;
            for (int i = 2; !names.Add(name); i++) name = $"{r.Name} ({i})";
            columns.Add(new DoubleDataFrameColumn(name, tags.Select(t => r.Contains(t) ? value(r.Series(t)) : double.NaN)));
        }
        return new DataFrame(columns);
    }

    private readonly record struct MetricRow(long Step, string Tag, double Value, double WallTime);

    private static List<MetricRow> ReadMetricRows(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"metrics CSV not found: {path}", path);
        using var csv = Csv(path);
        if (!csv.Headers.SequenceEqual(["step", "tag", "value", "wall_time"]))
            throw new InvalidDataException($"{path}: not a metrics CSV (header '{string.Join(",", csv.Headers)}', expected step,tag,value,wall_time)");
        var rows = new List<MetricRow>();
        try
        {
            while (csv.Read())
                rows.Add(new MetricRow(Long(csv, "step"), csv.GetString("tag"), Number(csv, "value"), Number(csv, "wall_time")));
        }
        catch (CsvFormatException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        return rows;
    }

    // A reader over the file's complete lines (header read; rows with another field count are an error).
    private static CsvReader Csv(string path)
    {
        var csv = CsvReader.FromText(CompleteLines(File.ReadAllText(path)), new CsvReaderOptions
        {
            HasHeader = true, Separator = ',', TrackLineNumbers = true, FieldCountMismatch = CsvFieldCountHandling.Throw,
        });
        csv.ReadHeader();
        return csv;
    }

    // Drops a last line without its newline (a row being written).
    private static string CompleteLines(string text) => text.EndsWith('\n') ? text : text[..(text.LastIndexOf('\n') + 1)];

    private static long Long(CsvReader csv, string column)
    {
        var s = csv.GetString(column);
        return long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new InvalidDataException($"line {csv.LineNumber}, column '{column}': '{s}' is not an integer");
    }

    private static double Number(CsvReader csv, string column)
    {
        var s = csv.GetString(column).Trim();
        return s.ToLowerInvariant() switch
        {
            "" or "nan" => double.NaN,
            "inf" or "+inf" => double.PositiveInfinity,
            "-inf" => double.NegativeInfinity,
            _ => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new InvalidDataException($"line {csv.LineNumber}, column '{column}': '{s}' is not a number"),
        };
    }

    private static void Flatten(YamlNode node, string key, Dictionary<string, string> into)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (k, v) in map.Children) Flatten(v, key.Length == 0 ? k.ToString() : key + "." + k, into);
                break;
            case YamlSequenceNode seq when seq.Children.All(c => c is YamlScalarNode):
                into[key] = "[" + string.Join(", ", seq.Children.Select(c => ((YamlScalarNode)c).Value)) + "]";
                break;
            case YamlSequenceNode seq:
                for (int i = 0; i < seq.Children.Count; i++) Flatten(seq.Children[i], $"{key}[{i}]", into);
                break;
            case YamlScalarNode s:
                into[key] = s.Value ?? "";
                break;
        }
    }
}
