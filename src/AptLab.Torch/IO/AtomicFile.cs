namespace AptLab.Torch.IO;

/// <summary>
/// A file written under a temporary name in the destination folder and renamed over the destination only by
/// <see cref="Commit"/>: a crash or an exception never leaves a half-written file, and an existing file stays
/// intact until the new one is complete. Disposing without committing deletes the temporary file.
/// </summary>
public sealed class AtomicFile : IDisposable
{
    public string Path { get; }
    public string TempPath { get; }
    public FileStream Stream { get; }
    private bool committed;

    public AtomicFile(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(dir);
        TempPath = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(Path)}.{Guid.NewGuid():N}.tmp");
        Stream = new FileStream(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
    }

    /// <summary>Flushes to disk and renames the temporary file over <see cref="Path"/>.</summary>
    public void Commit()
    {
        if (committed) return;
        Stream.Flush(flushToDisk: true);
        Stream.Dispose();
        File.Move(TempPath, Path, overwrite: true);
        committed = true;
    }

    public void Dispose()
    {
        if (committed) return;
        Stream.Dispose();
        try { File.Delete(TempPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Writes <paramref name="path"/> atomically with <paramref name="write"/>.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        using var f = new AtomicFile(path);
        write(f.Stream);
        f.Commit();
    }
}
