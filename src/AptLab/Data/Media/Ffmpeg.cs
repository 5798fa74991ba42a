using System.Globalization;
using AptLab.Torch.IO;

namespace AptLab.Data.Media;

/// <summary>
/// Media IO through Debian's ffmpeg/ffprobe run as subprocesses over pipes (raw rgb24 frames, f32le audio).
/// Every failure (tool missing, file missing or empty, not a media file, codec error, timeout) is one
/// <see cref="MediaException"/> naming the file. Every writer writes a temporary file beside the target
/// (<c>.NAME.tmp-XXXX.EXT</c>, the extension kept for ffmpeg's format detection) and renames it over the target only
/// when ffmpeg succeeded: on failure the temporary file is removed and an existing target is untouched
/// (docs/reliability.md). This part: probing, images and the shared runner.
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
        RunFfmpegTo(path, tmp => ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{rgb.Width}x{rgb.Height}", "-i", "-", "-frames:v", "1", "-update", "1", tmp],
                    writeStdin: s => s.Write(rgb.Pixels), timeout: timeout);
    }

    internal static ToolResult RunFfmpeg(IReadOnlyList<string> args, string subject, Action<Stream>? writeStdin = null,
                                         Action<Stream>? readStdout = null, TimeSpan? timeout = null)
    {
        string[] full = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", .. args];
        if (writeStdin is not null) full = full.Where(a => a != "-nostdin").ToArray();
        return ToolProcess.Run("ffmpeg", full, subject, writeStdin, readStdout, timeout, installHint: Hint);
    }

    /// <summary>Runs ffmpeg to write <paramref name="output"/> through a temporary file beside it (see the class
    /// summary); <paramref name="argsFor"/> gets the temporary path to put where the output goes.</summary>
    internal static void RunFfmpegTo(string output, Func<string, IReadOnlyList<string>> argsFor, Action<Stream>? writeStdin = null,
                                     TimeSpan? timeout = null)
    {
        var full = Path.GetFullPath(output);
        if (Directory.Exists(full)) throw new MediaException(full, "is a folder, not a file to write");
        EnsureDirectory(full);
        var tmp = AtomicFile.TempName(full, keepExtension: true);
        try
        {
            RunFfmpeg(argsFor(tmp), full, writeStdin, timeout: timeout);
            if (!File.Exists(tmp) || new FileInfo(tmp).Length == 0) throw new MediaException(full, "ffmpeg wrote nothing");
            File.Move(tmp, full, overwrite: true);
        }
        catch (MediaException e) when (e.Message.Contains(tmp))
        {
            throw new MediaException(full, e.Message[(e.FilePath.Length + 2)..].Replace(tmp, full), e.InnerException);   // name the target, not the temporary
        }
        finally
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Writes bytes (an encoded PNG or WAV) through a temporary file and a rename.</summary>
    internal static void WriteAtomically(string path, byte[] bytes)
    {
        try { AtomicFile.Write(path, s => s.Write(bytes)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not MediaException)
        {
            throw new MediaException(Path.GetFullPath(path), $"cannot write: {e.Message}", e);
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
