using System.Globalization;

namespace AptLab.Logging;

/// <summary>
/// A finished run's hyper-parameters and final metrics for TensorBoard's HParams tab, so runs (demo vs demo-no-r1)
/// compare side by side: the config's scalar values (numbers, booleans, short strings; flattened keys such as
/// <c>apt.image.r1_lambda</c>) through the hparams plugin's experiment / session_start_info / session_end_info
/// summaries, and as metrics the last value of every training curve and each comparison score
/// (<c>hparams/&lt;tag&gt;</c>), written as scalars into the same run so the tab finds them.
/// </summary>
public static class RunHparams
{
    /// <summary>The hparams (from config.yaml) and metrics (final values, comparison scores) of <paramref name="runDir"/>.</summary>
    public static (Dictionary<string, object> Hparams, Dictionary<string, double> Metrics) Collect(string runDir)
    {
        var run = RunReader.Open(runDir);
        var hparams = new Dictionary<string, object>();
        foreach (var (key, value) in run.ConfigValues())
        {
            if (value.Length == 0 || value.Length > 120 || value.StartsWith('[')) continue;
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) hparams[key] = d;
            else if (value is "true" or "false") hparams[key] = value == "true";
            else hparams[key] = value;
        }
        var metrics = new Dictionary<string, double>();
        if (File.Exists(run.MetricsPath))
            foreach (var s in run.AllSeries())
                if (Plots.TrainingCurves.Quantity(s.Tag) is not null && double.IsFinite(s.Values[^1])) metrics["hparams/" + s.Tag] = s.Values[^1];
        if (run.HasComparison)
        {
            var c = run.Comparison();
            for (int i = 0; i < c.Rows.Count; i++)
            {
                var name = $"{c["kind"][i]}/{c["method"][i]}".TrimStart('/');
                metrics[$"hparams/fd/{name}"] = (double)c["frechet_distance"][i];
                metrics[$"hparams/sharpness/{name}"] = (double)c["sharpness"][i];
            }
        }
        return (hparams, metrics);
    }

    /// <summary>Writes the run's hparams and final metrics into its events/ folder (a new event file).</summary>
    public static void Write(string runDir, long step = 0)
    {
        var (hparams, metrics) = Collect(runDir);
        using var writer = new SummaryWriter(Path.Combine(runDir, "events"), new SummaryWriterOptions { FileSuffix = ".hparams" });
        writer.AddHparams(hparams, metrics, step);
    }
}
