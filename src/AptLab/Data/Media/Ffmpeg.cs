using System.Globalization;

namespace AptLab.Data.Media;

/// <summary>
/// Media IO through Debian's ffmpeg/ffprobe run as subprocesses over pipes (raw rgb24 frames, f32le audio).
/// Every failure (tool missing, file missing or empty, not a media file, codec error, timeout) is one
/// <see cref="MediaException"/> naming the file. This part: probing, images and the shared runner.
/// </summary>
public static partial class Ffmpeg
{
    private const string Hint = "install the Debian package ffmpeg (make deps)";

    /// <summary>True if both ffmpeg and ffprobe are on PATH.</summary>
    public static bool IsAvailable => ToolProcess.FindOnPath("ffmpeg") is not null && ToolProcess.FindOnPath("ffprobe") is not null;

    /// <summary>Streams, sizes, frame rate, frame count and sample rate of a media file (ffprobe JSON).</summary>
    public static MediaInfo Probe(string path, TimeSpan? timeout = null)
    {
        MediaException.CheckInputFile(path);
        var r = ToolProcess.Run("ffprobe", ["-v", "error", "-print_format", "json", "-show_streams", "-show_format", path],
                                path, timeout: timeout, installHint: Hint);
        var info = MediaInfo.Parse(path, System.Text.Encoding.UTF8.GetString(r.Stdout));
        if (info.Streams.Count == 0) throw new MediaException(path, "not a media file (ffprobe found no streams)");
        return info;
    }

    /// <summary>Decodes an image file (png, jpg, bmp, ...) to RGB.</summary>
    public static RgbImage ReadImage(string path, TimeSpan? timeout = null)
    {
        var v = Probe(path, timeout).Video ?? throw new MediaException(path, "not an image (no video stream)");
        if (v.Width <= 0 || v.Height <= 0) throw new MediaException(path, "ffprobe reports no image size");
        var img = new RgbImage(v.Width, v.Height);
        RunFfmpeg(["-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], path,
                  readStdout: s => ReadExactlyOrThrow(s, img.Pixels, path, "image"), timeout: timeout);
        return img;
    }

    /// <summary>Encodes an image with ffmpeg, the format chosen by the extension (.jpg, .png, .bmp, .webp).</summary>
    public static void WriteImage(string path, RgbImage image, TimeSpan? timeout = null)
    {
        var rgb = image.ToRgb();
        EnsureDirectory(path);
        RunFfmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{rgb.Width}x{rgb.Height}", "-i", "-", "-frames:v", "1", "-update", "1", path],
                  path, writeStdin: s => s.Write(rgb.Pixels), timeout: timeout, deleteOutputOnFailure: path);
    }

    internal static ToolResult RunFfmpeg(IReadOnlyList<string> args, string subject, Action<Stream>? writeStdin = null,
                                         Action<Stream>? readStdout = null, TimeSpan? timeout = null, string? deleteOutputOnFailure = null)
    {
        string[] full = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", .. args];
        if (writeStdin is not null) full = full.Where(a => a != "-nostdin").ToArray();
        try
        {
            return ToolProcess.Run("ffmpeg", full, subject, writeStdin, readStdout, timeout, installHint: Hint);
        }
        catch when (deleteOutputOnFailure is not null)
        {
            try { File.Delete(deleteOutputOnFailure); } catch (IOException) { }
            throw;
        }
    }

    internal static void ReadExactlyOrThrow(Stream s, byte[] buffer, string path, string what)
    {
        int got = s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (got != buffer.Length) throw new MediaException(path, $"ffmpeg produced {got} bytes for the {what}, expected {buffer.Length}");
    }

    internal static void EnsureDirectory(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
    }

    internal static string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
}
