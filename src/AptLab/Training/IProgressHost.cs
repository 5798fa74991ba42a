namespace AptLab.Training;

/// <summary>A live progress bar of one phase (a Spectre.Console task on a terminal).</summary>
public interface IProgressBar
{
    /// <summary>Shows <paramref name="done"/> of the total and a status text (losses, rate, ETA).</summary>
    void Update(int done, string status);
}

/// <summary>
/// An output that can show live progress bars: the <see cref="TextWriter"/> a command hands to the code it runs
/// (<see cref="ConsoleSession"/>). <see cref="ProgressReporter"/> asks its writer for a bar; writers that are not
/// hosts (a file, a test's StringWriter) get periodic plain lines instead.
/// </summary>
public interface IProgressHost
{
    /// <summary>A bar for a phase of <paramref name="total"/> steps, or null when the output is not a live terminal.</summary>
    IProgressBar? StartBar(string phase, int total);

    /// <summary>A line for the run's log only (the terminal shows the bar instead).</summary>
    void LogOnly(string line);
}
