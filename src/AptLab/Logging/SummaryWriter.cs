using System.Text;
using AptLab.Data.Media;

namespace AptLab.Logging;

/// <summary>Settings of a <see cref="SummaryWriter"/>; the injectable parts make golden-byte tests possible.</summary>
public sealed record SummaryWriterOptions
{
    /// <summary>Flush after this many records (1 = every record).</summary>
    public int FlushEveryRecords { get; init; } = 20;
    /// <summary>Flush pending records at most this long after they were written (a timer; 0 disables it).</summary>
    public double FlushEverySeconds { get; init; } = 2.0;
    /// <summary>Wall clock in Unix seconds; used for every event's wall_time and the file name.</summary>
    public Func<double> Clock { get; init; } = () => (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
    public string HostName { get; init; } = Environment.MachineName;
    public int ProcessId { get; init; } = Environment.ProcessId;
    /// <summary>Appended to the file name (e.g. ".student").</summary>
    public string FileSuffix { get; init; } = "";
    /// <summary>Optional filter between the writer and the file (tests: a stream that fails like a full disk).</summary>
    public Func<Stream, Stream>? Filter { get; init; }
    /// <summary>Where problems that cannot be thrown are reported: a failed background flush that no later call
    /// reported, or a failure while disposing. Default: a "warning:" line on stderr.</summary>
    public Action<string> Warn { get; init; } = msg => Console.Error.WriteLine("warning: " + msg);
}

/// <summary>
/// Writes TensorBoard event files: one run directory, one new file per writer
/// (<c>events.out.tfevents.&lt;10-digit unix secs&gt;.&lt;host&gt;.&lt;pid&gt;.&lt;counter&gt;</c>), one open stream,
/// TFRecord framing with masked CRC32C, first record <c>file_version "brain.Event:2"</c>, wall times as Unix
/// seconds. Thread-safe. Flushes every N records, on a timer, on <see cref="Flush"/> and on Dispose.
/// The file only ever ends at a complete record: records are framed in memory and each flush is one write of whole
/// records; when a write fails (a full disk) the file is cut back to its last complete record and the error, naming
/// the file, is thrown by that call (or, for the timer's flush, by the next call). Dispose never throws; what it cannot
/// write is reported to <see cref="SummaryWriterOptions.Warn"/> (docs/reliability.md).
/// </summary>
public sealed class SummaryWriter : IDisposable
{
    public const string FileVersion = "brain.Event:2";
    private static int fileCounter = -1;                       // per-process file counter, as in the name convention

    private readonly FileStream file;
    private readonly Stream output;                            // file, or the options' filter over it
    private readonly MemoryStream buffered = new();            // whole framed records not yet written
    private readonly SummaryWriterOptions options;
    private readonly Timer? timer;
    private readonly object gate = new();
    private int pending;
    private long committed;                                    // bytes of complete records in the file
    private Exception? backgroundError;                        // a timer flush's failure, thrown by the next call
    private bool disposed;

    public string LogDir { get; }
    public string FilePath { get; }

    public SummaryWriter(string logDir, SummaryWriterOptions? options = null)
    {
        this.options = options ??= new SummaryWriterOptions();
        if (options.FlushEveryRecords < 1) throw new ArgumentException($"FlushEveryRecords must be >= 1, got {options.FlushEveryRecords}");
        LogDir = logDir;
        Directory.CreateDirectory(logDir);
        double now = options.Clock();
        int counter = Interlocked.Increment(ref fileCounter);
        string name = $"events.out.tfevents.{(long)Math.Floor(now):D10}.{options.HostName}.{options.ProcessId}.{counter}{options.FileSuffix}";
        FilePath = Path.Combine(logDir, name);
        file = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
        try
        {
            output = options.Filter is null ? file : options.Filter(file);
            Write(new TbEvent(now, FileVersion: FileVersion));
            Flush();
        }
        catch
        {
            file.Dispose();
            try { File.Delete(FilePath); } catch (IOException) { }    // created above (CreateNew): ours, and empty
            throw;
        }
        if (options.FlushEverySeconds > 0)
        {
            var period = TimeSpan.FromSeconds(options.FlushEverySeconds);
            timer = new Timer(_ => BackgroundFlush(), null, period, period);
        }
    }

    /// <summary>A scalar as simple_value (float32).</summary>
    public void AddScalar(string tag, double value, long step) =>
        Write(Now(step, new TbValue(tag) { SimpleValue = (float)value }));

    /// <summary>Several scalars in one event, each under its own tag (unlike PyTorch's add_scalars, no sub-runs).</summary>
    public void AddScalars(IEnumerable<KeyValuePair<string, double>> values, long step) =>
        Write(new TbEvent(options.Clock(), step, Values: values.Select(kv => new TbValue(kv.Key) { SimpleValue = (float)kv.Value }).ToList()));

    /// <summary>An image, PNG-encoded.</summary>
    public void AddImage(string tag, RgbImage image, long step) =>
        Write(Now(step, new TbValue(tag) { Image = new TbImage(image.Height, image.Width, image.Channels == 3 ? 3 : 1, Png.Encode(image)) }));

    /// <summary>An image from a float tensor <c>[3, H, W]</c> (or [1, H, W], [H, W]) with values low..high.</summary>
    public void AddImage(string tag, Tensor chw, long step, float low = 0f, float high = 1f) =>
        AddImage(tag, TensorImages.ToImage(chw, low, high), step);

    /// <summary>Several images as one grid image (<paramref name="columns"/> per row, optional captions).</summary>
    public void AddImageGrid(string tag, IReadOnlyList<RgbImage> images, long step, int columns = 8, IReadOnlyList<string>? captions = null) =>
        AddImage(tag, ImageGrid.Tile(images, columns, margin: 2, captions: captions), step);

    /// <summary>A histogram over <paramref name="edges"/> (default TensorFlow's exponential edges), trimmed like PyTorch.</summary>
    public void AddHistogram(string tag, ReadOnlySpan<double> values, long step, ReadOnlySpan<double> edges = default) =>
        Write(Now(step, new TbValue(tag) { Histogram = HistogramBuilder.Build(values, edges, tag) }));

    public void AddHistogram(string tag, ReadOnlySpan<float> values, long step, ReadOnlySpan<double> edges = default)
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i];
        AddHistogram(tag, d, step, edges);
    }

    /// <summary>A histogram of all elements of a tensor (any shape, dtype convertible to float64).</summary>
    public void AddHistogram(string tag, Tensor values, long step)
    {
        using var d = values.detach().to(Device.CPU, ScalarType.Float64);
        AddHistogram(tag, d.data<double>(), step);
    }

    /// <summary>Markdown text (text plugin: DT_STRING tensor of shape [1], empty TextPluginData).</summary>
    public void AddText(string tag, string markdown, long step) =>
        Write(Now(step, new TbValue(tag)
        {
            Tensor = new TbTensor(TbDataType.String, [1]) { StringVal = [Encoding.UTF8.GetBytes(markdown)] },
            Metadata = new TbPluginMetadata("text", []),
        }));

    /// <summary>Audio (interleaved samples in -1..1), stored as a PCM16 WAV.</summary>
    public void AddAudio(string tag, ReadOnlySpan<float> samples, int sampleRate, long step, int channels = 1) =>
        Write(Now(step, new TbValue(tag)
        {
            Audio = new TbAudio(sampleRate, channels, samples.Length / channels, Wav.Encode(samples, sampleRate, channels)),
        }));

    /// <summary>
    /// Hyper-parameters of this run for the hparams dashboard, plus final metric values written as scalars
    /// under the metric tags (numbers, strings or bools as hparam values).
    /// </summary>
    public void AddHparams(IReadOnlyDictionary<string, object> hparams, IReadOnlyDictionary<string, double> metrics, long step = 0)
    {
        Write(new TbEvent(options.Clock(), step, Values: HparamsData.Build(hparams, metrics.Keys, options.Clock())));
        AddScalars(metrics, step);
    }

    /// <summary>Writes one event as a TFRecord.</summary>
    public void Write(TbEvent e)
    {
        var record = TfRecord.Frame(EventCodec.Encode(e));
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            ThrowBackgroundError();
            buffered.Write(record);
            if (++pending >= options.FlushEveryRecords) FlushLocked();
        }
    }

    public void Flush()
    {
        lock (gate)
        {
            if (disposed) return;
            ThrowBackgroundError();
            FlushLocked();
        }
    }

    private void BackgroundFlush()
    {
        lock (gate)
        {
            if (disposed || backgroundError is not null) return;
            try { FlushLocked(); }
            catch (IOException e) { backgroundError = e; }     // a timer thread must not throw: the next call reports it
        }
    }

    private void ThrowBackgroundError()
    {
        if (backgroundError is not { } e) return;
        backgroundError = null;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
    }

    // One write of the buffered whole records. On failure the file is cut back to its last complete record and the
    // buffered records are dropped (the error says so).
    private void FlushLocked()
    {
        if (buffered.Length == 0) return;
        int records = pending;
        try
        {
            output.Write(buffered.GetBuffer(), 0, (int)buffered.Length);
            output.Flush();
            committed += buffered.Length;
        }
        catch (Exception e) when (e is IOException or NotSupportedException)
        {
            try { file.SetLength(committed); file.Position = committed; } catch (IOException) { }
            throw new IOException($"{FilePath}: writing TensorBoard events failed ({e.Message}); {records} event(s) lost, " +
                                  "the file ends at its last complete record", e);
        }
        finally
        {
            buffered.SetLength(0);
            pending = 0;
        }
    }

    private TbEvent Now(long step, TbValue value) => new(options.Clock(), step, Values: [value]);

    /// <summary>Flushes and closes. Never throws (it may run while another error unwinds): a failure is reported to
    /// <see cref="SummaryWriterOptions.Warn"/>, and the file still ends at its last complete record.</summary>
    public void Dispose()
    {
        timer?.Dispose();
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            if (backgroundError is not null) options.Warn(backgroundError.Message);
            try { FlushLocked(); }
            catch (IOException e) { options.Warn(e.Message); }
            try { output.Dispose(); } catch (Exception e) when (e is IOException or NotSupportedException) { }
            file.Dispose();
        }
    }
}
