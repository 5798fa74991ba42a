using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace AptLab.Data.Media;

/// <summary>What an external tool returned: exit code, stdout (when collected) and stderr.</summary>
public sealed record ToolResult(int ExitCode, byte[] Stdout, string Stderr);

/// <summary>
/// Runs an external program (ffmpeg, ffprobe) with stdin/stdout as byte pipes. Stdin is fed
/// and stdout drained on their own tasks while stderr is collected concurrently, so no pipe can fill up and
/// deadlock. A timeout kills the process. Failures become one <see cref="MediaException"/> naming the file
/// the call was about (<c>subject</c>), with the tool's last stderr lines.
/// </summary>
public static class ToolProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The full path of <paramref name="exe"/> found on PATH, or null.</summary>
    public static string? FindOnPath(string exe)
    {
        if (exe.Contains('/')) return File.Exists(exe) ? exe : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var p = Path.Combine(dir, exe);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>
    /// Runs <paramref name="exe"/>. <paramref name="writeStdin"/> (optional) writes the input and returns;
    /// stdin is closed after it. <paramref name="readStdout"/> (optional) consumes the output stream; without
    /// it stdout is collected into <see cref="ToolResult.Stdout"/>. A non-zero exit code throws unless
    /// <paramref name="checkExitCode"/> is false.
    /// </summary>
    public static ToolResult Run(string exe, IReadOnlyList<string> args, string subject,
                                 Action<Stream>? writeStdin = null, Action<Stream>? readStdout = null,
                                 TimeSpan? timeout = null, bool checkExitCode = true, string? installHint = null)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false, CreateNoWindow = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);

        using var p = new Process { StartInfo = psi };
        try { p.Start(); }
        catch (Win32Exception e)
        {
            throw new MediaException(subject, $"cannot run {exe}: {e.Message}" + (installHint is null ? "" : $" ({installHint})"), e);
        }

        var stderrTask = p.StandardError.ReadToEndAsync();
        var collected = new MemoryStream();
        var stdoutTask = Task.Run(() =>
        {
            var s = p.StandardOutput.BaseStream;
            if (readStdout is null) { s.CopyTo(collected); return; }
            Exception? failure = null;
            try { readStdout(s); }
            catch (Exception e) { failure = e; }
            s.CopyTo(Stream.Null);                                 // drain what the reader left, so the tool can exit
            if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        });
        var stdinTask = Task.Run(() =>
        {
            var s = p.StandardInput.BaseStream;
            try { writeStdin?.Invoke(s); }
            catch (IOException) { /* the tool closed its stdin (it failed or needs no more input): the exit code tells */ }
            finally { try { s.Close(); } catch (IOException) { } }
        });

        var all = Task.WhenAll(stdinTask, stdoutTask, stderrTask, p.WaitForExitAsync());
        bool finished;
        try { finished = all.Wait(timeout ?? DefaultTimeout); }
        catch (AggregateException)
        {
            finished = true;                                       // a pipe task failed: report below
        }
        if (!finished)
        {
            KillQuietly(p);
            throw new MediaException(subject, $"{Path.GetFileName(exe)} timed out after {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s");
        }
        if (!p.HasExited) KillQuietly(p);

        string stderr = stderrTask.IsCompletedSuccessfully ? stderrTask.Result : "";
        var readerError = stdoutTask.Exception?.InnerException ?? stdinTask.Exception?.InnerException;
        p.WaitForExit();
        if (readerError is MediaException me && p.ExitCode == 0) throw me;
        if (checkExitCode && p.ExitCode != 0)
            throw new MediaException(subject, $"{Path.GetFileName(exe)} failed (exit code {p.ExitCode}): {Tail(stderr)}", readerError);
        if (readerError is not null) throw readerError as MediaException ?? new MediaException(subject, readerError.Message, readerError);
        return new ToolResult(p.ExitCode, collected.ToArray(), stderr);
    }

    private static void KillQuietly(Process p)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); p.WaitForExit(5000); }
        catch (InvalidOperationException) { }
    }

    /// <summary>The last few non-empty lines of a tool's stderr, for error messages.</summary>
    internal static string Tail(string stderr, int lines = 4)
    {
        var parts = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var sb = new StringBuilder();
        foreach (var l in parts.Skip(Math.Max(0, parts.Length - lines))) sb.Append(sb.Length > 0 ? " | " : "").Append(l);
        return sb.Length == 0 ? "(no message)" : sb.ToString();
    }
}
