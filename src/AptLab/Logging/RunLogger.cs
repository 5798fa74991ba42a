namespace AptLab.Logging;

/// <summary>One run's metric sinks: every scalar goes to TensorBoard and to metrics.csv; images and histograms to
/// TensorBoard. Resuming truncates both, per stage and tag (<see cref="ResumePoint"/>), before the new writer starts, so
/// rows are never duplicated and the logs equal an uninterrupted run's.
/// <see cref="Discard"/> is the logger of the non-main ranks of a data-parallel run: it writes nothing.</summary>
public sealed class RunLogger : IDisposable
{
    /// <summary>The TensorBoard writer; null for a discarding logger.</summary>
    public SummaryWriter? Events { get; }
    /// <summary>metrics.csv; null for a discarding logger.</summary>
    public MetricsCsv? Csv { get; }

    public RunLogger(string eventsDir, string csvPath, long? resumeAfterStep = null)
        : this(eventsDir, csvPath, resumeAfterStep is long s ? ResumePoint.All(s) : null) { }

    /// <param name="resume">What the earlier attempt's logs keep (null: a fresh run, or keep everything).</param>
    /// <param name="options">Settings of the TensorBoard writer.</param>
    public RunLogger(string eventsDir, string csvPath, ResumePoint? resume, SummaryWriterOptions? options = null)
    {
        if (resume is not null) EventFileRewriter.Truncate(eventsDir, resume, options?.Warn);
        Csv = new MetricsCsv(csvPath, resume);
        try { Events = new SummaryWriter(eventsDir, options); }
        catch { Csv.Dispose(); throw; }
    }

    private RunLogger() { }

    /// <summary>A logger that drops everything (ranks other than 0 of a data-parallel run).</summary>
    public static RunLogger Discard() => new();

    /// <summary>Writes what is buffered to disk. Called before a checkpoint is written, so the logs a resumed run keeps
    /// up to that checkpoint are on disk even when the process is killed right after it (docs/reliability.md#5-resuming).</summary>
    public void Flush() => Events?.Flush();

    public void Scalars(long step, IReadOnlyDictionary<string, double> values)
    {
        Events?.AddScalars(values, step);
        Csv?.Log(step, values);
    }

    public void Scalar(long step, string tag, double value)
    {
        Events?.AddScalar(tag, value, step);
        Csv?.Log(step, tag, value);
    }

    public void Histogram(long step, string tag, Tensor values) => Events?.AddHistogram(tag, values, step);

    /// <summary>An image grid in TensorBoard's images tab (<paramref name="columns"/> tiles per row).</summary>
    public void Images(long step, string tag, IReadOnlyList<AptLab.Data.Media.RgbImage> tiles, int columns) =>
        Events?.AddImageGrid(tag, tiles, step, columns);

    /// <summary>Markdown text in TensorBoard's text tab.</summary>
    public void Text(long step, string tag, string markdown) => Events?.AddText(tag, markdown, step);

    public void Dispose()
    {
        Events?.Dispose();
        Csv?.Dispose();
    }
}
