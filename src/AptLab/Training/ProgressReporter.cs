using System.Diagnostics;
using System.Globalization;

namespace AptLab.Training;

/// <summary>
/// The progress of a training phase: phase, step, losses, samples/s and ETA (with hours: <see cref="Eta"/>). When its
/// output is a live terminal (<see cref="IProgressHost"/> giving a bar) the bar is updated every step and the run
/// log gets a plain line every <c>every</c> steps; any other output (redirected stdout, a file, a test's writer) gets
/// those plain lines itself: the first step, every <c>every</c> steps and the last.
/// </summary>
public sealed class ProgressReporter
{
    private readonly string phase;
    private readonly int totalSteps, every;
    private readonly TextWriter output;
    private readonly IProgressBar? bar;
    private readonly Func<TimeSpan> elapsed;
    private long samples;
    private int startStep = -1;

    public ProgressReporter(string phase, int totalSteps, TextWriter? output = null, int every = 10, Func<TimeSpan>? clock = null)
    {
        if (every < 1) throw new ArgumentException($"progress: every must be >= 1, got {every}");
        (this.phase, this.totalSteps, this.every) = (phase, totalSteps, every);
        this.output = output ?? Console.Out;
        var sw = Stopwatch.StartNew();
        elapsed = clock ?? (() => sw.Elapsed);
        bar = (this.output as IProgressHost)?.StartBar(phase, totalSteps);
    }

    /// <summary>Reports step <paramref name="step"/> (1-based count of completed steps) with its scalars.</summary>
    public void Report(int step, IReadOnlyDictionary<string, double> scalars, int batchSamples)
    {
        samples += batchSamples;
        var values = string.Join("  ", scalars.Select(kv => $"{kv.Key} {kv.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
        Report(step, values);
    }

    /// <summary>Reports step <paramref name="step"/> with a status text of its own.</summary>
    public void Report(int step, string status)
    {
        if (startStep < 0) startStep = step - 1;
        var t = elapsed();
        var eta = Eta.Remaining(t, step - startStep, totalSteps - step);
        var rate = samples > 0 ? $"  {(samples / Math.Max(t.TotalSeconds, 1e-9)).ToString("F1", CultureInfo.InvariantCulture)} samples/s" : "";
        var tail = $"{rate}  ETA {(eta is { } e ? Eta.Format(e) : "?")}";
        bool periodic = step % every == 0 || step == totalSteps || step == startStep + 1;
        var line = $"[{phase}] step {step}/{totalSteps}  {status}{tail}";
        if (bar is not null)
        {
            bar.Update(step, $"{status}{tail}");
            if (periodic) ((IProgressHost)output).LogOnly(line);
        }
        else if (periodic) output.WriteLine(line);
        AptLab.Torch.KillPoint.Reached(phase, step);                          // tests: killed after this step (docs/reliability.md)
    }

    /// <summary>Throughput so far, in samples per second.</summary>
    public double SamplesPerSecond => samples / Math.Max(elapsed().TotalSeconds, 1e-9);
}
