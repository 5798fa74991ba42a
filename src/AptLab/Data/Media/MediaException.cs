namespace AptLab.Data.Media;

/// <summary>A media file could not be read or written (missing, empty, not media, or the codec failed).
/// The message always names the file.</summary>
public sealed class MediaException : IOException
{
    public string FilePath { get; }

    public MediaException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner) => FilePath = filePath;

    /// <summary>Throws if <paramref name="path"/> does not exist or is empty.</summary>
    internal static void CheckInputFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new MediaException(path, "file not found");
        if (info.Length == 0) throw new MediaException(path, "file is empty (0 bytes)");
    }
}
