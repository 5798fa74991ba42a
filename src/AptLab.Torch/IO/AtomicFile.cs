using System.Text.RegularExpressions;

namespace AptLab.Torch.IO;

/// <summary>
/// A file written under a temporary name in the destination folder (<c>.NAME.&lt;32 hex&gt;.tmp</c>, or
/// <c>.NAME.tmp-&lt;32 hex&gt;.EXT</c> with <see cref="KeepExtension"/> for tools that pick the format by extension) and
/// renamed over the destination only by <see cref="Commit"/>: a crash or an exception never leaves a half-written file,
/// and an existing file stays intact until the new one is complete. When anything fails (a write, the flush on a full
/// disk, the rename), the temporary file is removed and the FIRST error is the one that propagates: disposing never
/// throws, so it cannot replace the error that caused the unwinding (docs/reliability.md).
/// </summary>
public sealed partial class AtomicFile : IDisposable
{
    public string Path { get; }
    public string TempPath { get; }
    /// <summary>The stream to write: buffered, over the temporary file (through the optional filter).</summary>
    public Stream Stream { get; }
    private readonly FileStream file;
    private bool committed, closed;

    /// <param name="path">The destination; its folder is created if missing.</param>
    /// <param name="filter">Optional filter between the buffer and the file (e.g. a hash, or in tests a stream that
    /// fails like a full disk); it must pass writes, seeks and flushes through.</param>
    /// <param name="keepExtension">Name the temporary file <c>.NAME.tmp-XXXX.EXT</c> so that a tool deciding the
    /// format by extension (ffmpeg) writes the right one.</param>
    public AtomicFile(string path, Func<Stream, Stream>? filter = null, bool keepExtension = false)
    {
        Path = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(Path)) throw new IOException($"{Path} is a folder, not a file");
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(dir);
        TempPath = TempName(Path, keepExtension);
        file = new FileStream(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        try { Stream = new BufferedStream(filter is null ? file : filter(file), 1 << 20); }
        catch { file.Dispose(); TryDelete(TempPath); throw; }
    }

    /// <summary>A fresh temporary name beside <paramref name="path"/> that <see cref="RemoveOrphans"/> recognises.</summary>
    public static string TempName(string path, bool keepExtension = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        var name = System.IO.Path.GetFileName(full);
        var id = Guid.NewGuid().ToString("N");
        return System.IO.Path.Combine(dir, keepExtension
            ? $".{System.IO.Path.GetFileNameWithoutExtension(name)}.tmp-{id}{System.IO.Path.GetExtension(name)}"
            : $".{name}.{id}.tmp");
    }

    /// <summary>Writes everything to disk (a full disk shows here) without renaming yet: staging several files,
    /// flush them all before committing any. On failure the temporary file is removed and the error propagates.</summary>
    public void FlushToDisk()
    {
        if (committed || closed) return;
        try
        {
            Stream.Flush();
            file.Flush(flushToDisk: true);
        }
        catch
        {
            Abandon();
            throw;
        }
    }

    /// <summary>Flushes to disk and renames the temporary file over <see cref="Path"/>. On failure the temporary file
    /// is removed and the error propagates; the destination is untouched.</summary>
    public void Commit()
    {
        if (committed) return;
        FlushToDisk();
        KillPoint.Reached("commit:" + System.IO.Path.GetFileName(Path));      // tests: killed with the file complete, not renamed
        try
        {
            Close();
            File.Move(TempPath, Path, overwrite: true);
            committed = true;
        }
        catch
        {
            Abandon();
            throw;
        }
    }

    /// <summary>Without a commit: closes and deletes the temporary file. Never throws.</summary>
    public void Dispose()
    {
        if (!committed) Abandon();
    }

    private void Abandon()
    {
        try { Close(); } catch (Exception) { /* the first error is already on its way; a second flush failure adds nothing */ }
        TryDelete(TempPath);
    }

    // Closes the file. The buffer is dropped rather than flushed: after a failed write its content is unusable.
    private void Close()
    {
        if (closed) return;
        closed = true;
        try { Stream.Dispose(); }
        catch (IOException) { /* flushing the remainder failed (e.g. the disk is full): the file is abandoned anyway */ }
        finally { file.Dispose(); }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Writes <paramref name="path"/> atomically with <paramref name="write"/>.</summary>
    public static void Write(string path, Action<Stream> write, Func<Stream, Stream>? filter = null)
    {
        using var f = new AtomicFile(path, filter);
        write(f.Stream);
        f.Commit();
    }

    [GeneratedRegex(@"^\..+(\.[0-9a-f]{32}\.tmp|\.tmp-[0-9a-f]{32}(\.[^.]*)?)$")]
    private static partial Regex TempPattern();

    /// <summary>True when <paramref name="fileName"/> is an <see cref="AtomicFile"/> temporary name.</summary>
    public static bool IsTempName(string fileName) => TempPattern().IsMatch(System.IO.Path.GetFileName(fileName));

    /// <summary>Deletes the temporary files a killed process left under <paramref name="directory"/> (recursively);
    /// returns their paths. Call it only where no other process is writing (e.g. when a run resumes).</summary>
    public static IReadOnlyList<string> RemoveOrphans(string directory)
    {
        if (!Directory.Exists(directory)) return [];
        var removed = new List<string>();
        foreach (var f in Directory.EnumerateFiles(directory, ".*", SearchOption.AllDirectories))
            if (IsTempName(f)) { TryDelete(f); removed.Add(f); }
        return removed;
    }
}
