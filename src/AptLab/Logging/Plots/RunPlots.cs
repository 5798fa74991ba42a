namespace AptLab.Logging.Plots;

/// <summary>
/// Every figure of a run, written into its plots/ folder by ScottPlot (PNG + SVG + CSV each):
/// <c>training</c> (one panel per stage: the losses, the VAE's KL), one figure per stage (<c>vae</c>, <c>teacher</c>,
/// <c>cd</c>, <c>apt_image</c>, <c>apt_video</c>, ...: losses, logits, penalties, gradient norms) and, when the run
/// has a comparison.csv, <c>comparison</c> (Fréchet distance and sharpness per method, per kind).
/// </summary>
public static class RunPlots
{
    /// <summary>Writes the figures of <paramref name="runDir"/> into <paramref name="plotsDir"/> (default: the run's
    /// plots/) and returns their base paths (without extension).</summary>
    public static IReadOnlyList<string> Write(string runDir, string? plotsDir = null, double smoothing = TrainingCurves.DefaultSmoothing)
    {
        var run = RunReader.Open(runDir);
        plotsDir ??= Path.Combine(run.Root, "plots");
        var written = new List<string>();
        void Save(string name, Figure f)
        {
            var basePath = Path.Combine(plotsDir, name);
            f.Save(basePath);
            written.Add(basePath);
        }
        if (File.Exists(run.MetricsPath))
        {
            var series = run.AllSeries();
            var overview = TrainingCurves.Overview($"{run.Name}: training curves (EMA {smoothing:0.##}, raw faint)", series, smoothing);
            if (overview.Panels.Count > 0) Save("training", overview);
            foreach (var (stage, figure) in TrainingCurves.PerStage(run.Name, series, smoothing)) Save(stage, figure);
        }
        if (run.HasComparison) Save("comparison", ComparisonBars.Figure($"{run.Name}: one-step vs multi-step", run.Comparison()));
        return written;
    }
}
