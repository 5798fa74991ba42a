namespace AptLab.Logging;

/// <summary>One run's metric sinks: every scalar goes to TensorBoard and to metrics.csv; images and histograms to
/// TensorBoard. Resuming truncates the CSV after the checkpoint's step so rows are never duplicated.</summary>
public sealed class RunLogger : IDisposable
{
    public SummaryWriter Events { get; }
    public MetricsCsv Csv { get; }

    public RunLogger(string eventsDir, string csvPath, long? resumeAfterStep = null)
    {
        Events = new SummaryWriter(eventsDir);
        Csv = new MetricsCsv(csvPath, resumeAfterStep);
    }

    public void Scalars(long step, IReadOnlyDictionary<string, double> values)
    {
        Events.AddScalars(values, step);
        Csv.Log(step, values);
    }

    public void Scalar(long step, string tag, double value)
    {
        Events.AddScalar(tag, value, step);
        Csv.Log(step, tag, value);
    }

    public void Histogram(long step, string tag, Tensor values) => Events.AddHistogram(tag, values, step);

    public void Dispose()
    {
        Events.Dispose();
        Csv.Dispose();
    }
}
