namespace AptLab.Logging;

/// <summary>A scalar series of one tag: steps, values and wall times, in file order.</summary>
public sealed record ScalarSeries(string Tag, long[] Steps, double[] Values, double[] WallTimes);

/// <summary>
/// Reads TensorBoard event files back: TFRecord framing with both CRCs checked, each record parsed as an
/// Event. A corrupt record throws <see cref="InvalidDataException"/> naming the file and byte offset; an
/// incomplete last record (a writer still running, or one that met a full disk) is skipped and reported to
/// <c>warn</c> when given: the file is read up to its last complete record.
/// </summary>
public static class EventFileReader
{
    public static IEnumerable<TbEvent> Read(string path, bool tolerateTruncatedTail = true, Action<string>? warn = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"event file not found: {path}", path);
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        foreach (var record in TfRecord.Read(s, path, tolerateTruncatedTail, warn))
        {
            TbEvent e;
            try { e = EventCodec.Decode(record); }
            catch (Google.Protobuf.InvalidProtocolBufferException ex) { throw new InvalidDataException($"{path}: a record is not an Event message: {ex.Message}", ex); }
            yield return e;
        }
    }

    /// <summary>The event files of one run directory (base name contains "tfevents"), in the order they were created:
    /// by name with runs of digits compared as numbers, so that two files of one process opened in the same second keep
    /// their counter's order (".9" before ".10", which an ordinal sort reverses).</summary>
    public static IReadOnlyList<string> FindEventFiles(string runDir)
    {
        if (!Directory.Exists(runDir)) throw new DirectoryNotFoundException($"run directory not found: {runDir}");
        return Directory.GetFiles(runDir).Where(f => Path.GetFileName(f).Contains("tfevents"))
                        .OrderBy(f => Path.GetFileName(f), NumericRuns.Instance).ToList();
    }

    /// <summary>Ordinal comparison except that maximal runs of ASCII digits compare by value (then by length).</summary>
    public sealed class NumericRuns : IComparer<string>
    {
        public static readonly NumericRuns Instance = new();

        public int Compare(string? a, string? b)
        {
            if (a is null || b is null) return a is null ? (b is null ? 0 : -1) : 1;
            int i = 0, j = 0;
            while (i < a.Length && j < b.Length)
            {
                if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
                {
                    int si = i, sj = j;
                    while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                    while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                    var x = a.AsSpan(si, i - si).TrimStart('0'); var y = b.AsSpan(sj, j - sj).TrimStart('0');
                    int c = x.Length != y.Length ? x.Length.CompareTo(y.Length) : x.SequenceCompareTo(y);
                    if (c != 0) return c;
                    if ((i - si) != (j - sj)) return (i - si).CompareTo(j - sj);
                    continue;
                }
                if (a[i] != b[j]) return a[i].CompareTo(b[j]);
                i++; j++;
            }
            return (a.Length - i).CompareTo(b.Length - j);
        }
    }

    /// <summary>All events of all event files in <paramref name="runDir"/>.</summary>
    public static List<TbEvent> ReadRun(string runDir) => FindEventFiles(runDir).SelectMany(f => Read(f)).ToList();

    /// <summary>The simple_value scalars of <paramref name="tag"/> (also single-float tensor scalars).</summary>
    public static ScalarSeries Scalars(IEnumerable<TbEvent> events, string tag)
    {
        var steps = new List<long>(); var values = new List<double>(); var times = new List<double>();
        foreach (var e in events)
            foreach (var v in e.Values)
            {
                if (v.Tag != tag) continue;
                double? x = v.SimpleValue is float f ? f : (v.Tensor is { FloatVal.Length: 1 } t ? t.FloatVal[0] : v.Tensor is { DoubleVal.Length: 1 } d ? d.DoubleVal[0] : (double?)null);
                if (x is null) continue;
                steps.Add(e.Step); values.Add(x.Value); times.Add(e.WallTime);
            }
        return new ScalarSeries(tag, steps.ToArray(), values.ToArray(), times.ToArray());
    }

    /// <summary>Every tag that carries a value in <paramref name="events"/>, in first-seen order.</summary>
    public static IReadOnlyList<string> Tags(IEnumerable<TbEvent> events) =>
        events.SelectMany(e => e.Values).Select(v => v.Tag).Distinct().ToList();
}
