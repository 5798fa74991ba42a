using System.Diagnostics;
using System.Globalization;
using System.Xml.Linq;
using AptLab.Data.Media;
using AptLab.Logging;
using AptLab.Notebooks;
using AptLab.Tests.Experiments;
using AptLab.Training;
using ShowText = AptLab.Notebooks.Show;

namespace AptLab.Tests.Notebooks;

/// <summary>Runs every notebook in notebooks/ as a file-based app (one build each) against real runs of
/// configs/demo-smoke.yaml (with and without the approximated R1); what the notebooks must print is computed from
/// the runs' own files.</summary>
[Collection("demo-smoke")]
public class NotebookRunTests(DemoSmokeRun demo)
{
    private static readonly string AppDir = Path.Combine(TestPaths.Repo, "obj", "notebooks-tests");
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    private static (NotebookRunResult Result, List<string> Out, string All) Run(string notebook, IReadOnlyList<string> runs,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var output = new List<string>();
        var errors = new List<string>();
        var options = new NotebookRunOptions
        {
            RepoRoot = TestPaths.Repo, Runs = runs, AppDirectory = AppDir, Timeout = timeout ?? Timeout,
            Environment = env ?? new Dictionary<string, string>(),
        };
        var result = NotebookRunner.Run(notebook, options, l => { lock (output) output.Add(l); }, l => { lock (errors) errors.Add(l); });
        var all = string.Join("\n", output) + "\n--- stderr ---\n" + string.Join("\n", errors);
        return (result, output, all);
    }

    private static string Notebook(string name) => Path.Combine(TestPaths.Repo, "notebooks", name);

    // The whitespace-separated cells of the table rows (of `cells` cells) starting with `first`, in output order.
    private static List<string[]> Rows(List<string> output, string first, int cells) =>
        output.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(c => c.Length == cells && c[0] == first).ToList();

    private static string[] Row(List<string> output, string first, int cells) => Assert.Single(Rows(output, first, cells));

    // The 1-based line of the .ipynb file holding `text`.
    private static int LineOf(string path, string text) => Array.FindIndex(File.ReadAllLines(path), l => l.Contains(text)) + 1;

    // Waits (up to 20 s) for a killed process to be gone and reaped.
    private static bool Gone(int pid)
    {
        for (int i = 0; i < 200; i++)
        {
            try { using var p = Process.GetProcessById(pid); if (p.HasExited) return true; }
            catch (ArgumentException) { return true; }
            Thread.Sleep(100);
        }
        return false;
    }

    private static XDocument PlotSvg(string pngPath)
    {
        var img = Png.Read(pngPath);
        Assert.Equal((800, 480), (img.Width, img.Height));
        int ink = 0;                                                             // some non-white, non-grey pixels: data was drawn
        for (int i = 0; i < img.Pixels.Length; i += 3)
            if (Math.Abs(img.Pixels[i] - img.Pixels[i + 2]) > 60) ink++;
        Assert.True(ink > 200, $"{pngPath}: only {ink} coloured pixels");
        return XDocument.Load(Path.ChangeExtension(pngPath, ".svg"));
    }

    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static List<string> SeriesNames(XDocument doc) =>
        doc.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "series").Select(g => (string)g.Attribute("data-name")!).ToList();

    [Fact]
    public void EveryNotebookIsCovered()
    {
        var names = Directory.GetFiles(Path.Combine(TestPaths.Repo, "notebooks"), "*.ipynb").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["compare-runs.ipynb", "comparison-sheets.ipynb", "explore-run.ipynb"], names);
    }

    private static bool IsLoss(string tag) => tag.Split('/')[^1] is var leaf && (leaf.StartsWith("loss") || leaf is "r1" or "r2");

    // Show's size text of a file
    private static string Size(long bytes) =>
        bytes < 1024 ? $"{bytes} B" : bytes < 1 << 20 ? $"{(bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)} KiB"
        : $"{(bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture)} MiB";

    [Fact]
    public void ExploreRunPrintsTheSummaryAndDrawsLossAndLogitPlots()
    {
        var run = demo.Run;
        var (result, output, all) = Run(Notebook("explore-run.ipynb"), [run.Root]);
        Assert.True(result.Succeeded, all);
        Assert.Contains("run     demo-smoke/smoke", output);

        var metrics = MetricsCsv.Read(run.MetricsCsv);
        Assert.Contains($"tags    {metrics.Tags.Count}: {string.Join(", ", metrics.Tags)}", output);
        int checkedRows = 0;
        foreach (var s in metrics.All.Where(s => !s.Tag.Contains(' ')))
        {
            int argmin = Array.IndexOf(s.Values, s.Values.Min());
            Assert.Equal([s.Tag, s.Values.Length.ToString(), s.Steps[^1].ToString(), ShowText.Number(s.Values[^1]), ShowText.Number(s.Values[argmin]), s.Steps[argmin].ToString()],
                         Row(output, s.Tag, 6));
            checkedRows++;
        }
        Assert.True(checkedRows >= 20, $"{checkedRows} rows");
        var lossD = metrics.Series("apt_image/loss_d");
        Assert.Equal(demo.Config.Apt.Image.Updates, lossD.Values.Length);

        foreach (var phase in new[] { "apt_image", "apt_video" })
        {
            var real = metrics.Series($"{phase}/logit_real");
            double gap = real.Values[^1] - metrics.Series($"{phase}/logit_fake").Values[^1];
            Assert.Contains($"logit gap {phase} (real - fake) at step {real.Steps[^1]}: {ShowText.Number(gap)}", output);
        }
        var events = EventFileReader.ReadRun(run.Events);
        int scalarTags = EventFileReader.Tags(events).Count(metrics.Contains);
        Assert.Contains($"events  {EventFileReader.FindEventFiles(run.Events).Count} file(s), {events.Count} events, {scalarTags} scalar tags", all);
        Assert.Contains("all agree with metrics.csv", all);
        foreach (var f in Directory.GetFiles(run.Checkpoints))
            Assert.Contains($"  checkpoints/{Path.GetFileName(f)}  {Size(new FileInfo(f).Length)}", output);
        var sheet = Png.Read(Path.Combine(run.Samples, "image", "comparison.png"));
        Assert.Contains($"  samples/image/comparison.png  {sheet.Width}x{sheet.Height}", output);

        var lossTags = metrics.Tags.Where(IsLoss).ToList();
        Assert.Contains("apt_video/r1", lossTags);
        var losses = PlotSvg(Path.Combine(run.Plots, "explore_losses.png"));
        Assert.Equal(lossTags, SeriesNames(losses));
        Assert.Equal(lossTags.Select(t => metrics.Series(t).Values.Length),
                     losses.Descendants(Svg + "polyline").Select(p => ((string)p.Attribute("points")!).Split(' ').Length));
        var logits = PlotSvg(Path.Combine(run.Plots, "explore_logits.png"));
        Assert.Equal(["apt_image/logit_real", "apt_image/logit_fake", "apt_video/logit_real", "apt_video/logit_fake"], SeriesNames(logits));
        Assert.Contains("plot  plots/explore_losses.png  (800x480)", output);
    }

    [Fact]
    public void CompareRunsPrintsFinalValuesSideBySideAndOverlaysRuns()
    {
        var (a, b) = (demo.Run, demo.NoR1);
        var (result, output, all) = Run(Notebook("compare-runs.ipynb"), [a.Root, b.Root]);
        Assert.True(result.Succeeded, all);
        var (ma, mb) = (MetricsCsv.Read(a.MetricsCsv), MetricsCsv.Read(b.MetricsCsv));
        static double TailMean(ScalarSeries s)
        {
            long from = s.Steps[0] + (s.Steps[^1] - s.Steps[0]) * 3 / 4;
            return s.Steps.Zip(s.Values).Where(p => p.First >= from).Average(p => p.Second);
        }
        foreach (var tag in new[] { "teacher/loss", "cd/loss", "apt_image/loss_d", "apt_image/r1", "apt_video/loss_g" })
        {
            var rows = Rows(output, tag, 3);
            Assert.Equal(2, rows.Count);
            Assert.Equal([tag, ShowText.Number(ma.Series(tag).Values[^1]), ShowText.Number(mb.Series(tag).Values[^1])], rows[0]);
            Assert.Equal([tag, ShowText.Number(TailMean(ma.Series(tag))), ShowText.Number(TailMean(mb.Series(tag)))], rows[1]);
        }
        // the stages before APT are identical, the adversarial phases differ (no R1 penalty in the second run)
        Assert.Equal(ma.Series("cd/loss").Values, mb.Series("cd/loss").Values);
        Assert.NotEqual(ma.Series("apt_image/loss_d").Values, mb.Series("apt_image/loss_d").Values);
        Assert.All(mb.Series("apt_image/r1").Values, v => Assert.Equal(0, v));

        foreach (var tag in new[] { "loss_d", "loss_g", "logit_real", "logit_fake" })
        {
            var doc = PlotSvg(Path.Combine(a.Plots, $"compare_apt_image_{tag}.png"));
            Assert.Equal(["demo-smoke/smoke", "demo-smoke-no-r1/smoke"], SeriesNames(doc));
        }
        Assert.True(File.Exists(Path.Combine(a.Plots, "compare_cd_loss.png")));
    }

    [Fact]
    public void ComparisonSheetsPrintsTheTableFindsSheetsAndDrawsBars()
    {
        var run = demo.Run;
        var (result, output, all) = Run(Notebook("comparison-sheets.ipynb"), [run.Root]);
        Assert.True(result.Succeeded, all);
        var table = CsvTable.Read(run.File("comparison.csv"));
        var (kinds, methods, fd, nfe) = (table.Column("kind"), table.Column("method"), table.Numbers("frechet_distance"), table.Numbers("nfe"));
        Assert.Equal(["image", "video"], kinds.Distinct());
        Assert.Contains($"run  demo-smoke/smoke: {methods.Distinct().Count()} methods, kinds image, video", output);
        foreach (var kind in new[] { "image", "video" })
        {
            var rows = Enumerable.Range(0, methods.Length).Where(i => kinds[i] == kind).ToArray();
            var expected = ShowText.FormatTable(["method", "steps", "NFE", "wall s", "FD", "sharpness"], rows.Select(i => new object?[]
                { methods[i], (long)table.Numbers("steps")[i], (long)nfe[i], table.Numbers("wall_seconds")[i], fd[i], table.Numbers("sharpness")[i] }));
            Assert.Contains(expected.TrimEnd(), all.Replace("\r", ""));
            int best = rows.MinBy(i => fd[i]);
            Assert.Contains($"lowest FD ({kind}): {methods[best]} ({ShowText.Number(fd[best])})", output);
            int slowest = rows.MaxBy(i => nfe[i]);
            Assert.Contains($"APT 1 step: {ShowText.Number(nfe[slowest])}x fewer evaluations than {methods[slowest]}, " +
                            $"FD {ShowText.Number(fd[rows.Single(i => methods[i] == "APT 1 step")])} vs {ShowText.Number(fd[slowest])}", output);
            Assert.Contains(output, l => l.Trim() == $"{kind}: CD 1 step" .PadRight(32) + $" samples/{kind}/frames_cd_1_step.png");
            Assert.Contains(output, l => l.Trim() == $"{kind}: APT 2 steps".PadRight(32) + $" samples/{kind}/frames_apt_2_steps.png");
        }

        var labels = methods.Select((m, i) => $"{kinds[i]}: {m}").ToArray();
        var bars = PlotSvg(Path.Combine(run.Plots, "comparison_fd.png"));
        Assert.Equal(labels, bars.Descendants(Svg + "text").Where(t => (string?)t.Attribute("class") == "xtick").Select(t => t.Value));
        var heights = bars.Descendants(Svg + "rect").Where(r => r.Parent!.Attribute("class")?.Value == "series")
            .Select(r => double.Parse((string)r.Attribute("height")!, CultureInfo.InvariantCulture))
            .Where((h, i) => i % 2 == 0).ToList();                                 // zero-height gaps between the bars
        Assert.Equal(labels.Length, heights.Count);
        for (int i = 1; i < heights.Count; i++) Assert.Equal(fd[i] / fd[0], heights[i] / heights[0], 2);
        PlotSvg(Path.Combine(run.Plots, "comparison_sharpness.png"));
    }

    [Fact]
    public void ExitCodesCompileErrorsAndTimeoutsPropagate()
    {
        using var tmp = TestPaths.Temp();
        var probeDir = Path.Combine(AppDir, "probes");                        // a stable path keeps the probe's build cached
        Directory.CreateDirectory(probeDir);
        var probe = new NotebookJson()
            .Markdown("# probe")
            .Code("using System.Diagnostics;\n\nvar mode = Environment.GetEnvironmentVariable(\"PROBE_MODE\");\nConsole.WriteLine($\"probe {mode}\");")
            .Code("if (mode == \"exit\") Environment.Exit(3);\nif (mode == \"throw\") throw new InvalidOperationException(\"probe failed\");")
            .Code("if (mode == \"sleep\")\n{\n    File.WriteAllText(Environment.GetEnvironmentVariable(\"PROBE_PID\")!, Environment.ProcessId.ToString());\n    Thread.Sleep(600_000);\n}")
            .Save(Path.Combine(probeDir, "runner-probe.ipynb"));

        var (exit, output, all) = Run(probe, [], new Dictionary<string, string> { ["PROBE_MODE"] = "exit" });
        Assert.Equal(3, exit.ExitCode);
        Assert.Contains("probe exit", output);

        var (thrown, _, thrownAll) = Run(probe, [], new Dictionary<string, string> { ["PROBE_MODE"] = "throw" });
        Assert.NotEqual(0, thrown.ExitCode);
        Assert.Contains("probe failed", thrownAll);
        Assert.Contains($"{probe}:line {LineOf(probe, "probe failed")}", thrownAll);                        // the stack trace points into the .ipynb

        var pidFile = tmp.File("pid");
        var (slept, _, sleptAll) = Run(probe, [], new Dictionary<string, string> { ["PROBE_MODE"] = "sleep", ["PROBE_PID"] = pidFile },
                                       timeout: TimeSpan.FromSeconds(15));
        Assert.True(slept.TimedOut, sleptAll);
        Assert.Equal(NotebookRunner.TimeoutExitCode, slept.ExitCode);
        Assert.True(Gone(int.Parse(File.ReadAllText(pidFile))), "the notebook process outlived the timeout");

        var broken = new NotebookJson().Code("var n = 1;\nConsole.WriteLine(n.Lenght);").Save(Path.Combine(probeDir, "runner-broken.ipynb"));
        var (failed, _, failedAll) = Run(broken, []);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains($"{broken}({LineOf(broken, "n.Lenght")},", failedAll);                           // CS1061 at the line of the .ipynb file
        Assert.Contains("CS1061", failedAll);
    }
}
