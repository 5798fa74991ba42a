using System.Text;
using Spectre.Console;

namespace AptLab.Training;

/// <summary>
/// The console of a long command (`aptlab run`, `compare`, `sample`, `avatar`): a <see cref="TextWriter"/> whose
/// lines go to the terminal and, once <see cref="LogTo"/> names a file (the run folder's run.log), to that file as
/// plain text (no ANSI), earlier lines included. On a terminal <see cref="Run{T}"/> shows live Spectre.Console
/// progress bars (<see cref="IProgressHost"/>) below the scrolling lines; otherwise (stdout redirected, CI) the
/// progress comes as periodic plain lines (<see cref="ProgressReporter"/>), which the log gets in both cases.
/// </summary>
public sealed class ConsoleSession : TextWriter, IProgressHost
{
    private readonly TextWriter terminal;
    private readonly IAnsiConsole? ansi;
    private readonly object gate = new();
    private readonly StringBuilder pending = new();          // the current, unfinished line
    private readonly List<string> early = [];                // lines before the log file was named
    private StreamWriter? log;
    private ProgressContext? live;

    /// <summary>A session on <paramref name="terminal"/> (default stdout); <paramref name="interactive"/> (default: stdout
    /// is a terminal and no other writer was given) turns the live bars on.</summary>
    public ConsoleSession(TextWriter? terminal = null, bool? interactive = null)
    {
        this.terminal = terminal ?? Console.Out;
        bool tty = interactive ?? (!Console.IsOutputRedirected && terminal is null);
        if (tty) ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(this.terminal), Interactive = InteractionSupport.Yes });
    }

    public override Encoding Encoding => Encoding.UTF8;

    /// <summary>Whether bars are shown live (a terminal).</summary>
    public bool IsLive => ansi is not null;

    /// <summary>The log file so far, null until <see cref="LogTo"/>.</summary>
    public string? LogPath { get; private set; }

    /// <summary>Appends everything shown so far, and from now on every line, to <paramref name="path"/>.</summary>
    public void LogTo(string path)
    {
        lock (gate)
        {
            if (LogPath == Path.GetFullPath(path)) return;
            log?.Dispose();
            log = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
            LogPath = Path.GetFullPath(path);
            foreach (var line in early) log.WriteLine(line);
            early.Clear();
        }
    }

    /// <summary>Runs <paramref name="body"/>; on a terminal inside a live progress display.</summary>
    public T Run<T>(Func<T> body)
    {
        if (ansi is null) return body();
        T result = default!;
        ansi.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                live = ctx;
                try { result = body(); }
                finally { live = null; }
            });
        return result;
    }

    public IProgressBar? StartBar(string phase, int total)
    {
        if (live is null) return null;
        lock (gate) return new Bar(live.AddTask(Markup.Escape($"[{phase}]"), maxValue: Math.Max(1, total)), phase);
    }

    public void LogOnly(string line)
    {
        lock (gate) Log(line);
    }

    public override void Write(char value)
    {
        lock (gate)
        {
            if (value == '\n') Flush(pending.ToString());
            else if (value != '\r') pending.Append(value);
        }
    }

    public override void Write(string? value)
    {
        if (value is null) return;
        lock (gate)
            foreach (var c in value)
            {
                if (c == '\n') Flush(pending.ToString());
                else if (c != '\r') pending.Append(c);
            }
    }

    public override void WriteLine(string? value)
    {
        lock (gate)
        {
            pending.Append(value);
            Flush(pending.ToString());
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            lock (gate)
            {
                if (pending.Length > 0) Flush(pending.ToString());
                log?.Dispose();
                log = null;
            }
        base.Dispose(disposing);
    }

    // One complete line: to the terminal (through Spectre while bars are live, so it scrolls above them) and the log.
    private void Flush(string line)
    {
        pending.Clear();
        if (ansi is not null) ansi.WriteLine(line, Style.Plain);
        else terminal.WriteLine(line);
        Log(line);
    }

    private void Log(string line)
    {
        if (log is not null) log.WriteLine(line);
        else early.Add(line);
    }

    private sealed class Bar(ProgressTask task, string phase) : IProgressBar
    {
        public void Update(int done, string status)
        {
            task.Description = Markup.Escape($"[{phase}] {done}/{task.MaxValue:0}  {status}");
            task.Value = done;
        }
    }
}
