using System.Diagnostics;
using System.Globalization;

namespace AptLab.Training;

/// <summary>
/// The live progress line of a training phase: phase, step, losses, samples/s and ETA. On a terminal the
/// line is redrawn in place; when output is redirected (CI, logs) it prints a line every <c>every</c> steps.
/// </summary>
public sealed class ProgressReporter(string phase, int totalSteps, TextWriter? output = null, int every = 10)
{
    private readonly TextWriter output = output ?? Console.Out;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly bool interactive = output is null && !Console.IsOutputRedirected;
    private long samples;
    private int startStep = -1;

    /// <summary>Reports step <paramref name="step"/> (1-based count of completed steps) with its scalars.</summary>
    public void Report(int step, IReadOnlyDictionary<string, double> scalars, int batchSamples)
    {
        if (startStep < 0) startStep = step - 1;
        samples += batchSamples;
        double elapsed = clock.Elapsed.TotalSeconds;
        double rate = samples / Math.Max(elapsed, 1e-9);
        double perStep = elapsed / Math.Max(step - startStep, 1);
        var eta = TimeSpan.FromSeconds(perStep * (totalSteps - step));
        var values = string.Join("  ", scalars.Select(kv => $"{kv.Key} {kv.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
        var line = $"[{phase}] step {step}/{totalSteps}  {values}  {rate:F1} samples/s  ETA {eta:mm\\:ss}";
        if (interactive)
        {
            output.Write("\r" + line.PadRight(Math.Max(line.Length, Console.WindowWidth - 1)));
            if (step == totalSteps) output.WriteLine();
        }
        else if (step % every == 0 || step == totalSteps || step == startStep + 1)
            output.WriteLine(line);
    }

    /// <summary>Throughput so far, in samples per second.</summary>
    public double SamplesPerSecond => samples / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
}
