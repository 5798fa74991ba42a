using AptLab.Torch.IO;

namespace AptLab.Data.Media;

/// <summary>What a command writes at an output path: the extensions AptLab's writers (and ffmpeg) accept for it.</summary>
public enum OutputKind { Video, Audio, Image, Text }

/// <summary>An output path a command cannot write; the message names the option and the path.</summary>
public sealed class OutputPathException(string message) : IOException(message);

/// <summary>
/// Checks where a command will write BEFORE it loads a model or computes anything (docs/reliability.md): the extension
/// fits the kind (ffmpeg picks the container by it), the path is not a folder, its folder exists or can be made, it can
/// be written, and an existing file is overwritten only with the command's explicit <c>--overwrite</c> or when it lies in
/// a run folder AptLab made (a folder holding <c>config.yaml</c> and <c>metrics.csv</c>). Nothing is created.
/// </summary>
public static class OutputPath
{
    /// <summary>Accepted extensions per kind (lower case): the containers our H.264 + AAC video, PCM/AAC/MP3/FLAC audio and
    /// PNG/JPEG/BMP/WebP image writers produce.</summary>
    public static IReadOnlyList<string> Extensions(OutputKind kind) => kind switch
    {
        OutputKind.Video => [".mp4", ".mov", ".mkv"],
        OutputKind.Audio => [".wav", ".m4a", ".mp3", ".flac"],
        OutputKind.Image => [".png", ".jpg", ".jpeg", ".bmp", ".webp"],
        _ => [],
    };

    /// <summary>Checks a file output; returns its full path. <paramref name="option"/> names it in errors (e.g.
    /// "--output"). <paramref name="extensions"/> overrides the kind's list (e.g. [".cs"] for a text file).</summary>
    public static string CheckFile(string path, OutputKind kind, string option, bool overwrite, IReadOnlyList<string>? extensions = null)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new OutputPathException($"{option}: the output path is empty");
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new OutputPathException($"{option} {full}: is a folder; give a file name such as {Path.Combine(full, "result" + (extensions ?? Extensions(kind)).FirstOrDefault())}");
        var ext = Path.GetExtension(full).ToLowerInvariant();
        var known = extensions ?? Extensions(kind);
        if (known.Count > 0 && !known.Contains(ext))
            throw new OutputPathException($"{option} {full}: '{(ext.Length == 0 ? "(no extension)" : ext)}' is not a {kind.ToString().ToLowerInvariant()} " +
                                          $"file extension AptLab writes (use {string.Join(", ", known)})");
        CheckFolderWritable(Path.GetDirectoryName(full)!, option, full);
        if (File.Exists(full) && !overwrite && !InRunFolder(full))
            throw new OutputPathException($"{option} {full}: the file exists; AptLab does not overwrite it (pass --overwrite, or choose another name)");
        return full;
    }

    /// <summary>Checks an output folder that will receive <paramref name="files"/>; returns its full path.</summary>
    public static string CheckFolder(string dir, string option, IEnumerable<string> files, bool overwrite)
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new OutputPathException($"{option}: the output folder is empty");
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new OutputPathException($"{option} {full}: is a file, not a folder");
        CheckFolderWritable(full, option, full);
        if (!overwrite)
        {
            var existing = files.Select(f => Path.Combine(full, f)).Where(f => File.Exists(f) || Directory.Exists(f)).ToList();
            if (existing.Count > 0 && !existing.All(InRunFolder))
                throw new OutputPathException($"{option} {full}: already holds {string.Join(", ", existing.Select(Path.GetFileName))}; " +
                                              "AptLab does not overwrite them (pass --overwrite, or choose another folder)");
        }
        return full;
    }

    /// <summary>True when <paramref name="path"/> lies in a run folder AptLab made (a folder above it holds both
    /// <c>config.yaml</c> and <c>metrics.csv</c>): AptLab may rewrite its own products there.</summary>
    public static bool InRunFolder(string path)
    {
        for (var d = Path.GetDirectoryName(Path.GetFullPath(path)); d is not null; d = Path.GetDirectoryName(d))
            if (File.Exists(Path.Combine(d, "config.yaml")) && File.Exists(Path.Combine(d, "metrics.csv"))) return true;
        return false;
    }

    // The folder (or, when it does not exist yet, its nearest existing ancestor) must be a folder we can create files in.
    private static void CheckFolderWritable(string dir, string option, string subject)
    {
        var d = dir;
        while (!Directory.Exists(d))
        {
            if (File.Exists(d)) throw new OutputPathException($"{option} {subject}: {d} is a file, so the folder cannot be made");
            d = Path.GetDirectoryName(d) ?? throw new OutputPathException($"{option} {subject}: no existing folder above it");
        }
        var probe = AtomicFile.TempName(Path.Combine(d, "write-probe"));
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputPathException($"{option} {subject}: cannot write in {d} ({e.Message})");
        }
        finally
        {
            try { File.Delete(probe); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
