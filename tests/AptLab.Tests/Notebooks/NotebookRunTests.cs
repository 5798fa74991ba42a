using System.Text.RegularExpressions;
using AptLab.Data.Media;
using AptLab.Logging;
using AptLab.Logging.Plots;
using AptLab.Notebooks;
using AptLab.Tests.Experiments;

namespace AptLab.Tests.Notebooks;

/// <summary>Executes every notebook in notebooks/ in the real .NET Interactive kernel (Jupyter's nbconvert, the
/// .net-csharp kernel that `make deps` installs) against real runs of configs/demo-smoke.yaml, then reads the
/// executed notebooks: no error output anywhere, the figures are image/png outputs of exactly the run's figures,
/// the tables are HTML tables holding the run's numbers, and the runs read were not written to.</summary>
[Collection("demo-smoke")]
public class NotebookRunTests(DemoSmokeRun demo)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    private static string Notebook(string name) => Path.Combine(TestPaths.Repo, "notebooks", name);

    private static NotebookOutputs Execute(string notebook, IReadOnlyList<string> runs, string outDir,
        IReadOnlyDictionary<string, string>? env = null)
    {
        Assert.Null(NotebookKernel.Missing());                          // make deps installs Jupyter and the kernel
        var log = new List<string>();
        var result = NotebookRunner.Run(notebook, new NotebookRunOptions
        {
            OutputDirectory = outDir, Runs = runs, Timeout = Timeout,
            Environment = env ?? new Dictionary<string, string>(),
        }, l => { lock (log) log.Add(l); }, l => { lock (log) log.Add(l); });
        Assert.True(result.ExecutedPath is not null, $"no executed notebook:\n{string.Join("\n", log)}\n{string.Join("\n", result.Errors)}");
        Assert.Equal(Path.Combine(outDir, Path.GetFileName(notebook)), result.ExecutedPath);
        var executed = NotebookOutputs.Load(result.ExecutedPath!);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors) + "\n" + string.Join("\n", log));
        Assert.Empty(executed.Errors);
        Assert.All(executed.CodeCells, c => Assert.DoesNotContain(c.Outputs, o => o.Text.Contains("error CS")));
        return executed;
    }

    // Every file of a run with its size and write time: a notebook must leave all of it as it was.
    private static Dictionary<string, (long, DateTime)> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => (new FileInfo(f).Length, File.GetLastWriteTimeUtc(f)));

    private static (int Width, int Height) PngSize(CellOutput o)
    {
        var png = Convert.FromBase64String(o.Data["image/png"]);
        var image = Png.Decode(png);
        return (image.Width, image.Height);
    }

    // The text of each <td> of the HTML table, row by row.
    private static List<string[]> HtmlRows(string html) =>
        Regex.Matches(html, "<tr>(.*?)</tr>", RegexOptions.Singleline).Skip(1)
             .Select(m => Regex.Matches(m.Groups[1].Value, "<td[^>]*>(.*?)</td>").Select(td => System.Net.WebUtility.HtmlDecode(td.Groups[1].Value)).ToArray())
             .ToList();

    private static string Html(NotebookCell cell)
    {
        var html = Assert.Single(cell.WithMime("text/html")).Data["text/html"];
        Assert.Contains("<table", html);
        return html;
    }

    [Fact]
    public void EveryNotebookIsCovered()
    {
        var names = Directory.GetFiles(Path.Combine(TestPaths.Repo, "notebooks"), "*.ipynb").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["compare-runs.ipynb", "comparison-sheets.ipynb", "explore-run.ipynb"], names);
    }

    [Fact]
    public void ExploreRunShowsTheRunsTablesAndFiguresInline()
    {
        using var tmp = TestPaths.Temp();
        var run = RunReader.Open(demo.Run.Root);
        var before = Snapshot(run.Root);
        var nb = Execute(Notebook("explore-run.ipynb"), [run.Root], tmp.Path);
        Assert.Equal(before, Snapshot(run.Root));

        // the loss curves: one PNG, exactly the overview figure of this run (its size follows its panels)
        var overview = TrainingCurves.Overview(run.Name, run.AllSeries());
        Assert.Equal(["vae: losses", "vae: KL", "teacher: losses", "cd: losses", "apt_image: losses", "apt_video: losses"], overview.Panels.Select(p => p.Title));
        var curves = Assert.Single(nb.Tagged("loss-curves").WithMime("image/png"));
        Assert.Equal((overview.Width, overview.Height), PngSize(curves));
        var stages = nb.Tagged("stage-figures").WithMime("image/png").ToList();
        Assert.Equal(TrainingCurves.PerStage(run.Name, run.AllSeries()).Select(f => (f.Figure.Width, f.Figure.Height)), stages.Select(PngSize));

        // the summary: an HTML table with a row per tag, its last value as the table prints it
        // (DataFrameHtml shows the first 60 rows and counts the rest: two training replicates log more tags than that)
        var summary = Html(nb.Tagged("summary-table"));
        var rows = HtmlRows(summary);
        int shown = Math.Min(run.Tags.Count, 60);
        Assert.Equal(run.Tags.Take(shown), rows.Select(r => r[0]));
        if (run.Tags.Count > shown) Assert.Contains($"{run.Tags.Count - shown} more rows ({run.Tags.Count} in all)", summary);
        var lossD = run.Series("apt_image/loss_d");
        Assert.Equal([lossD.Values.Length.ToString(), lossD.Steps[^1].ToString(), DataFrameHtml.Number(lossD.Values[^1])],
                     rows.Single(r => r[0] == "apt_image/loss_d")[1..4]);
        Assert.Contains(HtmlRows(Html(nb.Tagged("config-table"))), r => r[0] == "vae.steps" && r[1] == demo.Config.Vae.Steps.ToString());   // the table shows the first 60 keys
        var gaps = HtmlRows(Html(nb.Tagged("logit-table")));
        Assert.Equal(["apt_image", "apt_video", "apt_image/seed1000", "apt_video/seed1000"], gaps.Select(r => r[0]));   // per replicate
        double gap = run.Series("apt_video/logit_real").Values[^1] - run.Series("apt_video/logit_fake").Values[^1];
        Assert.Equal(DataFrameHtml.Number(gap), gaps[1][3]);
        Assert.Contains("all agree with metrics.csv", nb.Tagged("events-check").Outputs.Single().Text);
        Assert.Contains(HtmlRows(Html(nb.Tagged("checkpoints-table"))), r => r[0] == "checkpoints/apt_video_ema.safetensors");
        Assert.Equal(2, nb.Tagged("sample-sheets").WithMime("image/png").Count());          // image and video comparison sheets
    }

    [Fact]
    public void CompareRunsPutsRunsSideBySide()
    {
        using var tmp = TestPaths.Temp();
        var (a, b) = (RunReader.Open(demo.Run.Root), RunReader.Open(demo.NoR1.Root));
        var (beforeA, beforeB) = (Snapshot(a.Root), Snapshot(b.Root));
        var nb = Execute(Notebook("compare-runs.ipynb"), [a.Root, b.Root], tmp.Path);
        Assert.Equal(beforeA, Snapshot(a.Root));
        Assert.Equal(beforeB, Snapshot(b.Root));

        var final = HtmlRows(Html(nb.Tagged("final-table")));
        var tail = HtmlRows(Html(nb.Tagged("tail-table")));
        foreach (var tag in new[] { "teacher/loss", "cd/loss", "apt_image/loss_d", "apt_image/r1", "apt_video/loss_g" })
        {
            Assert.Equal([tag, DataFrameHtml.Number(a.Series(tag).Values[^1]), DataFrameHtml.Number(b.Series(tag).Values[^1])], final.Single(r => r[0] == tag));
            Assert.Equal([tag, DataFrameHtml.Number(RunReader.TailMean(a.Series(tag))), DataFrameHtml.Number(RunReader.TailMean(b.Series(tag)))], tail.Single(r => r[0] == tag));
        }
        // the stages before APT are identical, the adversarial phases differ (no R1 penalty in the second run)
        Assert.Equal(a.Series("cd/loss").Values, b.Series("cd/loss").Values);
        Assert.NotEqual(a.Series("apt_image/loss_d").Values, b.Series("apt_image/loss_d").Values);
        Assert.All(b.Series("apt_image/r1").Values, v => Assert.Equal(0, v));

        var overlay = Assert.Single(nb.Tagged("overlay-curves").WithMime("image/png"));
        string[] tags = ["apt_image/loss_d", "apt_image/loss_g", "apt_image/logit_real", "apt_image/logit_fake", "apt_video/loss_d", "apt_video/loss_g", "cd/loss", "teacher/loss"];
        var expected = TrainingCurves.Compare("", [(a.Name, a.AllSeries()), (b.Name, b.AllSeries())], tags);
        Assert.Equal((expected.Width, expected.Height), PngSize(overlay));
        Assert.Equal(2, nb.Tagged("comparison-tables").WithMime("text/html").Count());
    }

    [Fact]
    public void ComparisonSheetsShowsTheTableBarsAndSheets()
    {
        using var tmp = TestPaths.Temp();
        var run = RunReader.Open(demo.Run.Root);
        var before = Snapshot(run.Root);
        var nb = Execute(Notebook("comparison-sheets.ipynb"), [run.Root], tmp.Path);
        Assert.Equal(before, Snapshot(run.Root));

        var table = run.Comparison();
        var rows = HtmlRows(Html(nb.Tagged("comparison-table")));
        Assert.Equal(table.Rows.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal((string)table["kind"][i], rows[i][0]);
            Assert.Equal((string)table["method"][i], rows[i][1]);
            Assert.Equal(DataFrameHtml.Number((double)table["frechet_distance"][i]), rows[i][5]);
        }
        Assert.Contains("image: lowest FD", nb.Tagged("verdict").Outputs.Single().Text);
        var bars = Assert.Single(nb.Tagged("comparison-bars").WithMime("image/png"));
        var figure = ComparisonBars.Figure(run.Name, table);
        Assert.Equal(4, figure.Panels.Count);                                     // FD and sharpness, images and videos apart
        Assert.Equal((figure.Width, figure.Height), PngSize(bars));
        var sheets = Directory.GetFiles(run.Root + "/samples", "*.png", SearchOption.AllDirectories);
        Assert.Equal(sheets.Length, nb.Tagged("sheets").WithMime("image/png").Count());
    }

    [Fact]
    public void ACellThatThrowsIsReportedAndTheRestStillRuns()
    {
        using var tmp = TestPaths.Temp();
        var probeDir = Path.Combine(TestPaths.Repo, "obj", "notebook-tests");       // inside the checkout: the kernel is its local tool
        Directory.CreateDirectory(probeDir);
        var probe = Path.Combine(probeDir, "probe.ipynb");
        File.WriteAllText(probe, """
            {"cells": [
              {"cell_type": "code", "execution_count": null, "id": "a", "metadata": {}, "outputs": [], "source": ["var x = 6 * 7;"]},
              {"cell_type": "code", "execution_count": null, "id": "b", "metadata": {"tags": ["throws"]}, "outputs": [], "source": ["throw new InvalidOperationException(\"probe failed\");"]},
              {"cell_type": "code", "execution_count": null, "id": "c", "metadata": {"tags": ["after"]}, "outputs": [], "source": ["Console.WriteLine($\"after {x}\");"]}],
             "metadata": {"kernelspec": {"display_name": ".NET (C#)", "language": "C#", "name": ".net-csharp"}},
             "nbformat": 4, "nbformat_minor": 5}
            """);
        var result = NotebookRunner.Run(probe, new NotebookRunOptions { OutputDirectory = tmp.Path, Timeout = Timeout }, _ => { }, _ => { });
        Assert.False(result.Succeeded);
        Assert.Contains("cell 2: ", Assert.Single(result.Errors));
        Assert.Contains("probe failed", result.Errors[0]);
        var executed = NotebookOutputs.Load(result.ExecutedPath!);
        Assert.Contains("probe failed", Assert.Single(executed.Tagged("throws").Outputs, o => o.IsError).ErrorValue);
        Assert.Equal("after 42\n", executed.Tagged("after").Outputs.Single().Text);
    }
}
