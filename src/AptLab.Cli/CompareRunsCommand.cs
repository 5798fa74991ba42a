using System.CommandLine;
using AptLab.Logging;
using AptLab.Logging.Plots;
using AptLab.Notebooks;
using Spectre.Console;

namespace AptLab.Cli;

/// <summary>`aptlab compare-runs RUN RUN ... [--out DIR] [--tags a,b]`: several runs side by side (RunReader
/// DataFrames): the final value and last-quarter mean of every tag they share as a table, and their curves overlaid
/// (one ScottPlot panel per tag) in DIR/compare_runs.png (+ .svg, .csv). The runs are only read.</summary>
public static class CompareRunsCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("runs") { Description = "run folders results/<experiment>/<run-id>", Arity = new ArgumentArity(2, 64) };
        var output = new Option<string?>("--out") { Description = "folder for the overlay figure (default: results/compare-runs/<UTC time>)" };
        var tags = new Option<string?>("--tags") { Description = "comma-separated tags to overlay (default: the APT losses and logits, CD and teacher losses)" };
        var cmd = new Command("compare-runs", "Put runs side by side: final metrics table and overlaid curves");
        cmd.Arguments.Add(runs);
        cmd.Options.Add(output);
        cmd.Options.Add(tags);
        cmd.SetAction(p => Run(p.GetValue(runs)!, p.GetValue(output), p.GetValue(tags), Console.Out));
        return cmd;
    }

    public static int Run(string[] runDirs, string? outDir, string? tagList, TextWriter output)
    {
        try
        {
            var runs = runDirs.Select(RunReader.Open).ToList();
            var final = RunReader.FinalValues(runs);
            var tail = RunReader.TailMeans(runs);
            var table = new Table().AddColumn("tag");
            foreach (var r in runs) table.AddColumn(new TableColumn(Markup.Escape(r.Name + " last / tail mean")).RightAligned());
            for (int i = 0; i < final.Rows.Count; i++)
                table.AddRow([Markup.Escape((string)final["tag"][i]), .. runs.Select((_, k) =>
                    $"{DataFrameHtml.Number((double)final.Columns[k + 1][i])} / {DataFrameHtml.Number((double)tail.Columns[k + 1][i])}")]);
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
            if (output != Console.Out || Console.IsOutputRedirected) console.Profile.Width = 400;   // a file or pipe: no wrapping of long tags
            console.Write(table);

            string[] preferred = ["apt_image/loss_d", "apt_image/loss_g", "apt_image/logit_real", "apt_image/logit_fake", "apt_video/loss_d", "apt_video/loss_g", "cd/loss", "teacher/loss"];
            var common = RunReader.CommonTags(runs);
            var overlay = tagList is { Length: > 0 } ? tagList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList()
                                                      : preferred.Where(common.Contains).ToList();
            if (overlay.Count > 0)
            {
                outDir ??= Path.Combine("results", "compare-runs", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss"));
                var figure = TrainingCurves.Compare(string.Join(" vs ", runs.Select(r => r.Name)), runs.Select(r => (r.Name, r.AllSeries())).ToList(), overlay);
                var files = figure.Save(Path.Combine(outDir, "compare_runs"));
                output.WriteLine($"overlay: {Path.GetFullPath(files.Png)}");
            }
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or KeyNotFoundException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
