using System.Diagnostics;

namespace AptLab.Tests.Engine.IO;

/// <summary>
/// A stream over a file that behaves like a full disk: writes beyond <see cref="Limit"/> bytes of the file fail with
/// "No space left on device" after writing what still fits (a partial write, as write(2) does). Each failure is numbered,
/// so a test can tell the first error from a later one. Seeks, reads, flushes and truncation pass through.
/// </summary>
public sealed class DiskFullStream(Stream inner, long limit) : Stream
{
    public long Limit { get; set; } = limit;
    public int Failures { get; private set; }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        long room = Math.Max(0, Limit - inner.Position);
        if (buffer.Length <= room) { inner.Write(buffer); return; }
        inner.Write(buffer[..(int)room]);
        inner.Flush();
        throw new IOException($"No space left on device (failure #{++Failures})");
    }

    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => inner.SetLength(value);
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>A small tmpfs mounted for a test (needs root and CAP_SYS_ADMIN); <see cref="TryMount"/> returns null where
/// that is not permitted, and the test then checks nothing more (the stream-level tests cover the same code).</summary>
public sealed class SmallTmpfs : IDisposable
{
    public string Path { get; }
    private SmallTmpfs(string path) => Path = path;

    public static SmallTmpfs? TryMount(string size = "64k")
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root") return null;
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "aptlab-tmpfs-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        if (Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", dir) == 0) return new SmallTmpfs(dir);
        Directory.Delete(dir);
        return null;
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        Run("umount", Path);
        try { Directory.Delete(Path); } catch (IOException) { }
    }

    private static int Run(string exe, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception) { return -1; }
    }
}
