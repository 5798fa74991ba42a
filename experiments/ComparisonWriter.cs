using System.Globalization;
using System.Text;
using AptLab.Evaluation;

namespace AptLab.Experiments;

/// <summary>The run-level summary of the comparison: <c>comparison.csv</c> (one row per kind and method) and the
/// run's README.md with the tables, what the metrics are, and where the sheets are.</summary>
public static class ComparisonWriter
{
    public const string CsvHeader = "kind,method,steps,nfe,wall_seconds,frechet_distance,sharpness";

    public static void Write(StudyContext ctx, List<(string kind, ComparisonOutputs outputs)> reports)
    {
        var csv = new StringBuilder(CsvHeader + "\n");
        foreach (var (kind, o) in reports)
            foreach (var s in o.Scores)
                csv.AppendLine(string.Join(",", kind, Quote(s.Method), s.Steps, s.Nfe, F(s.WallSeconds), F(s.FrechetDistance), F(s.Sharpness)));
        Training.RunDirectory.WriteAtomic(ctx.Run.File("comparison.csv"), csv.ToString());
        foreach (var (kind, o) in reports)
            foreach (var s in o.Scores)
            {
                ctx.Log.Scalar(0, $"compare_{kind}/fd/{s.Method}", s.FrechetDistance);
                ctx.Log.Scalar(0, $"compare_{kind}/sharpness/{s.Method}", s.Sharpness);
            }
        foreach (var (kind, o) in reports) ctx.Log.Text(0, $"compare/{kind}_table", o.Markdown);   // TensorBoard's text tab

        var md = new StringBuilder();
        md.AppendLine($"# {ctx.Config.Name}: one-step vs multi-step").AppendLine();
        md.AppendLine($"Run `{ctx.Run.RunId}` of `{ctx.Config.Experiment}` (config: `config.yaml`). Fréchet distance (lower is better) is");
        md.AppendLine("computed on AptLab's fixed image/video features (src/AptLab/Evaluation/README.md) against held-out real samples of");
        md.AppendLine("the built-in data; sharpness is the mean variance of the Laplacian of the grayscale frames (higher is sharper;");
        md.AppendLine("the real data's value is given for reference). All methods share the same noise and prompts.").AppendLine();
        foreach (var (kind, o) in reports)
        {
            md.AppendLine($"## {char.ToUpper(kind[0]) + kind[1..]}s").AppendLine();
            md.AppendLine(o.Markdown).AppendLine();
            md.AppendLine($"Sheet: `samples/{kind}/comparison.png`" + (o.VideoPath is null ? "" : $", video grid: `samples/{kind}/comparison.mp4`")).AppendLine();
        }
        var verdict = Verdict(reports);
        if (verdict is not null) md.AppendLine(verdict).AppendLine();
        Training.RunDirectory.WriteAtomic(ctx.Run.File("README.md"), md.ToString());
        ctx.Out.WriteLine();
        ctx.Out.WriteLine(md.ToString());
    }

    /// <summary>Whether the APT students (the final one, and for images also the image phase's) beat the CD student
    /// on both metrics, per kind.</summary>
    private static string? Verdict(List<(string kind, ComparisonOutputs outputs)> reports)
    {
        var lines = new List<string>();
        foreach (var (kind, o) in reports)
        {
            var cd = o.Scores.FirstOrDefault(s => s.Method == "CD 1 step");
            if (cd is null) continue;
            string[] students = kind == "image" ? ["APT 1 step", "APT image phase 1 step"] : ["APT 1 step"];
            foreach (var apt in students.Select(m => o.Scores.FirstOrDefault(s => s.Method == m)).OfType<ComparisonScore>())
            {
                bool fd = apt.FrechetDistance < cd.FrechetDistance, sharp = apt.Sharpness > cd.Sharpness;
                lines.Add($"- {kind}s: {apt.Method} vs CD 1 step: Fréchet distance {F(apt.FrechetDistance)} vs {F(cd.FrechetDistance)} " +
                          $"({(fd ? "better" : "worse")}), sharpness {F(apt.Sharpness)} vs {F(cd.Sharpness)} ({(sharp ? "sharper" : "blurrier")}).");
            }
        }
        return lines.Count == 0 ? null : "## APT vs consistency distillation\n\n" + string.Join("\n", lines);
    }

    internal static string F(double v) => v.ToString("G5", CultureInfo.InvariantCulture);
    internal static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
