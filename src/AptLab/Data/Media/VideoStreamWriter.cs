using System.Collections.Concurrent;

namespace AptLab.Data.Media;

/// <summary>
/// An H.264 mp4 written frame by frame while the frames are produced (docs/omniavatar.md#long-audio): ffmpeg runs from
/// the constructor on, each <see cref="Write"/> hands one frame to it through a queue of at most
/// <see cref="QueueFrames"/> frames (a producer faster than the encoder waits), so memory stays flat however long the
/// video. Like every media writer it writes a temporary file beside the target and renames it only in
/// <see cref="Complete"/>; disposing an uncompleted writer (an exception, Ctrl-C) stops ffmpeg and removes the
/// temporary file, leaving an existing target untouched (docs/reliability.md). Frames must share one size; odd sizes are
/// padded to even by repeating the last column/row.
/// </summary>
public sealed class VideoStreamWriter : IDisposable
{
    /// <summary>Frames waiting for ffmpeg at most.</summary>
    public const int QueueFrames = 8;

    private readonly BlockingCollection<byte[]> queue = new(QueueFrames);
    private readonly CancellationTokenSource abort = new();
    private readonly Task encoder;
    private bool completed, disposed;

    public string Path { get; }
    public int Width { get; }
    public int Height { get; }
    /// <summary>Frames written so far.</summary>
    public long Frames { get; private set; }

    /// <param name="timeout">limit on ffmpeg's whole run (none by default: the video lasts as long as its production)</param>
    public VideoStreamWriter(string path, int width, int height, double fps, int crf = 18, TimeSpan? timeout = null)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"{path}: frame size must be positive, got {width}x{height}");
        if (!(fps > 0) || double.IsInfinity(fps)) throw new ArgumentException($"{path}: fps must be positive, got {fps}");
        (Path, Width, Height) = (path, width, height);
        int ew = width + (width & 1), eh = height + (height & 1);
        var token = abort.Token;
        encoder = Task.Run(() => Ffmpeg.RunFfmpegTo(path,
            tmp => ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{ew}x{eh}", "-r", Ffmpeg.F(fps), "-i", "-",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", crf.ToString(), "-movflags", "+faststart", tmp],
            // an abort throws here, which fails the run: the temporary file is removed, nothing is renamed
            writeStdin: s => { foreach (var frame in queue.GetConsumingEnumerable(token)) s.Write(frame); },
            timeout: timeout ?? Timeout.InfiniteTimeSpan));
    }

    /// <summary>Queues one frame (waits while <see cref="QueueFrames"/> are queued). Throws ffmpeg's error, naming the
    /// file, when the encoder has failed.</summary>
    public void Write(RgbImage frame)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed) throw new InvalidOperationException($"{Path}: the video is complete; no more frames can be written");
        if (frame.Width != Width || frame.Height != Height)
            throw new ArgumentException($"{Path}: frame {Frames} is {frame.Width}x{frame.Height}, the video is {Width}x{Height}");
        var pixels = frame.ToRgb().PadToEven().Pixels;
        while (!queue.TryAdd(pixels, 100))
            if (encoder.IsCompleted) break;
        if (encoder.IsCompleted) encoder.GetAwaiter().GetResult();          // ffmpeg stopped early: its error
        if (encoder.IsCompleted) throw new MediaException(System.IO.Path.GetFullPath(Path), "ffmpeg stopped before the video was complete");
        Frames++;
    }

    /// <summary>Ends the stream, waits for ffmpeg and renames the finished file over the target.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed) return;
        if (Frames == 0) throw new ArgumentException($"{Path}: no frames to write");
        completed = true;
        queue.CompleteAdding();
        encoder.GetAwaiter().GetResult();
    }

    /// <summary>Without <see cref="Complete"/>: stops ffmpeg and removes its temporary file (never throws).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (!encoder.IsCompleted)
        {
            abort.Cancel();
            try { encoder.Wait(); } catch (AggregateException) { /* the abort, or the error Write/Complete reported */ }
        }
        queue.Dispose();
        abort.Dispose();
    }
}
