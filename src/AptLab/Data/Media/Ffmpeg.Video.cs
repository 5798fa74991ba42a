namespace AptLab.Data.Media;

/// <summary>Decoded video: frames of one size plus the stream's frame rate.</summary>
public sealed record VideoFrames(int Width, int Height, double Fps, IReadOnlyList<RgbImage> Frames);

public static partial class Ffmpeg
{
    /// <summary>
    /// Encodes RGB frames to an H.264 mp4 (yuv420p, <paramref name="crf"/>) through a <see cref="VideoStreamWriter"/>.
    /// Frames must share one size; an odd width or height is padded to even by repeating the last column/row (libx264
    /// needs even sizes).
    /// </summary>
    public static void WriteVideo(string path, IReadOnlyList<RgbImage> frames, double fps, int crf = 18, TimeSpan? timeout = null)
    {
        if (frames.Count == 0) throw new ArgumentException($"{path}: no frames to write");
        if (fps <= 0) throw new ArgumentException($"{path}: fps must be positive, got {fps}");
        int w = frames[0].Width, h = frames[0].Height;
        for (int i = 0; i < frames.Count; i++)
            if (frames[i].Width != w || frames[i].Height != h)
                throw new ArgumentException($"{path}: frame {i} is {frames[i].Width}x{frames[i].Height}, frame 0 is {w}x{h}");
        using var writer = new VideoStreamWriter(path, w, h, fps, crf, timeout);
        foreach (var f in frames) writer.Write(f);
        writer.Complete();
    }

    /// <summary>
    /// Decodes a video to RGB frames, optionally resized inside ffmpeg (lanczos). Give width, height or both;
    /// a missing one keeps the aspect ratio (rounded to even). <paramref name="maxFrames"/> stops early;
    /// <paramref name="fps"/> resamples the frame rate (ffmpeg's fps filter: frames dropped or repeated).
    /// </summary>
    public static VideoFrames ReadVideo(string path, int? width = null, int? height = null, int? maxFrames = null, TimeSpan? timeout = null,
        double? fps = null)
    {
        var v = Probe(path, timeout).Video ?? throw new MediaException(path, "has no video stream");
        if (v.Width <= 0 || v.Height <= 0) throw new MediaException(path, "ffprobe reports no video size");
        int w = width ?? (height is null ? v.Width : EvenRound((double)v.Width * height.Value / v.Height));
        int h = height ?? (width is null ? v.Height : EvenRound((double)v.Height * width.Value / v.Width));
        var args = new List<string> { "-i", path, "-map", "0:v:0" };
        var filters = new List<string>();
        if (fps is not null) filters.Add($"fps={F(fps.Value)}");
        if (w != v.Width || h != v.Height) filters.Add($"scale={w}:{h}:flags=lanczos");
        if (filters.Count > 0) args.AddRange(["-vf", string.Join(",", filters)]);
        if (maxFrames is not null) args.AddRange(["-frames:v", maxFrames.Value.ToString()]);
        args.AddRange(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);

        var frames = new List<RgbImage>();
        RunFfmpeg(args, path, readStdout: s =>
        {
            while (true)
            {
                var f = new RgbImage(w, h);
                int got = s.ReadAtLeast(f.Pixels, f.Pixels.Length, throwOnEndOfStream: false);
                if (got == 0) break;
                if (got != f.Pixels.Length) throw new MediaException(path, $"ffmpeg stopped inside frame {frames.Count} ({got} of {f.Pixels.Length} bytes)");
                frames.Add(f);
            }
        }, timeout: timeout);
        if (frames.Count == 0) throw new MediaException(path, "decoded no video frames");
        return new VideoFrames(w, h, fps ?? v.Fps, frames);
    }

    /// <summary>
    /// Puts the audio of <paramref name="audioPath"/> under the video of <paramref name="videoPath"/> (video
    /// copied, audio AAC). A positive <paramref name="audioOffsetSeconds"/> delays the audio (silence first);
    /// a negative one skips the audio's start. The result is cut to the shorter stream.
    /// </summary>
    public static void MuxAudio(string videoPath, string audioPath, string outputPath, double audioOffsetSeconds = 0, TimeSpan? timeout = null)
    {
        if (Probe(videoPath, timeout).Video is null) throw new MediaException(videoPath, "has no video stream to mux audio into");
        if (Probe(audioPath, timeout).Audio is null) throw new MediaException(audioPath, "has no audio stream");
        var args = new List<string> { "-i", videoPath };
        if (audioOffsetSeconds < 0) args.AddRange(["-ss", F(-audioOffsetSeconds)]);
        args.AddRange(["-i", audioPath, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]);
        if (audioOffsetSeconds > 0) args.AddRange(["-af", $"adelay=delays={F(audioOffsetSeconds * 1000)}:all=1"]);
        RunFfmpegTo(outputPath, tmp => [.. args, "-shortest", tmp], timeout: timeout);
    }

    private static int EvenRound(double v) => Math.Max(2, (int)Math.Round(v / 2) * 2);
}
