using System.Diagnostics;
using System.Globalization;
using System.Xml.Linq;
using AptLab.Data.Media;
using AptLab.Logging;
using AptLab.Notebooks;
using AptLab.Training;
using ShowText = AptLab.Notebooks.Show;

namespace AptLab.Tests.Notebooks;

/// <summary>
/// Two realistic run folders (demo with R1, demo-no-r1 without), written through RunLogger (TensorBoard events +
/// metrics.csv), with config.yaml, a checkpoint, sample sheets and comparison.csv; the logged series are kept to
/// compute what the notebooks must print.
/// </summary>
public sealed class NotebookRunFixture : IDisposable
{
    public const int LastStep = 300;
    public static readonly string[] Methods = ["teacher_euler_50", "teacher_euler_4", "cd_1step", "apt_1step"];
    public static readonly double[] Fd = [3.25, 18.75, 9.5, 4.125];

    public TempDir Temp { get; } = TestPaths.Temp();
    public string Results => Temp.Path;
    public RunDirectory Demo { get; }
    public RunDirectory NoR1 { get; }
    public Dictionary<string, (long[] Steps, double[] Values)> DemoSeries { get; } = [];
    public Dictionary<string, (long[] Steps, double[] Values)> NoR1Series { get; } = [];

    public NotebookRunFixture()
    {
        Demo = Write("demo", r1Weight: 1.0, DemoSeries);
        NoR1 = Write("demo-no-r1", r1Weight: 0.0, NoR1Series);
        File.WriteAllText(Demo.File("comparison.csv"), "method,steps,nfe,wall_seconds,frechet_distance,sharpness\n" +
            string.Concat(Methods.Select((m, i) => $"{m},{new[] { 50, 4, 1, 1 }[i]},{new[] { 100, 8, 1, 1 }[i]},{new[] { 12.5, 1.1, 0.3, 0.3 }[i].ToString(CultureInfo.InvariantCulture)}," +
                                                    $"{Fd[i].ToString(CultureInfo.InvariantCulture)},{new[] { 0.412, 0.198, 0.251, 0.397 }[i].ToString(CultureInfo.InvariantCulture)}\n")));
        foreach (var (m, i) in new[] { ("teacher_euler_50", 0), ("cd_1step", 1), ("apt_1step", 2) })
            Png.Write(Path.Combine(Demo.Samples, m + ".png"), Sheet(96, 48, i));
    }

    // Deterministic APT-like curves: teacher and CD losses decay; D and G losses settle with a wobble (so the minimum
    // is not at the last step), R1 decays when on; logits drift apart.
    private RunDirectory Write(string experiment, double r1Weight, Dictionary<string, (long[], double[])> series)
    {
        var run = RunDirectory.Create(Results, experiment, "20260101-000000");
        var rows = new Dictionary<string, (List<long> S, List<double> V)>();
        using (var log = new RunLogger(run.Events, run.MetricsCsv))
        {
            for (long step = 0; step <= LastStep; step += 10)
            {
                double s = step;
                var values = new Dictionary<string, double>
                {
                    ["teacher/loss"] = 0.05 + 0.9 * Math.Exp(-s / 70),
                    ["cd/loss"] = 0.02 + 0.3 * Math.Exp(-s / 90),
                    ["apt_image/loss_d"] = 0.6 + 0.7 * Math.Exp(-s / 60) + 0.04 * Math.Sin(s / 23),
                    ["apt_image/loss_g"] = 0.9 + 0.1 * r1Weight + 0.5 * Math.Exp(-s / 90) + 0.03 * Math.Cos(s / 31),
                    ["apt_image/logit_real"] = 0.2 + 0.5 * s / LastStep,
                    ["apt_image/logit_fake"] = -0.1 - (0.4 - 0.2 * r1Weight) * s / LastStep,
                };
                if (r1Weight > 0) values["apt_image/r1"] = 0.01 + 0.02 * Math.Exp(-s / 50);
                log.Scalars(step, values);
                foreach (var (tag, v) in values)
                {
                    if (!rows.TryGetValue(tag, out var r)) rows[tag] = r = ([], []);
                    r.S.Add(step); r.V.Add(v);
                }
            }
        }
        foreach (var (tag, r) in rows) series[tag] = (r.S.ToArray(), r.V.ToArray());
        File.WriteAllText(run.ConfigFile, $"experiment: {experiment}\nseed: 0\napt:\n  r1_weight: {r1Weight.ToString(CultureInfo.InvariantCulture)}\n");
        File.WriteAllBytes(Path.Combine(run.Checkpoints, "step_000300.safetensors"), new byte[3000]);
        return run;
    }

    private static RgbImage Sheet(int w, int h, int seed)
    {
        var img = new RgbImage(w, h, 3);
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)((i * 37 + seed * 101) % 251);
        return img;
    }

    public void Dispose() => Temp.Dispose();
}

/// <summary>Runs every notebook in notebooks/ as a file-based app (one build each) against the fixture's runs.</summary>
public class NotebookRunTests(NotebookRunFixture fx) : IClassFixture<NotebookRunFixture>
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

    [Fact]
    public void ExploreRunPrintsTheSummaryAndDrawsLossAndLogitPlots()
    {
        var (result, output, all) = Run(Notebook("explore-run.ipynb"), [fx.Demo.Root]);
        Assert.True(result.Succeeded, all);
        Assert.Contains("run     demo/20260101-000000", output);

        foreach (var (tag, (steps, values)) in fx.DemoSeries)
        {
            int argmin = Array.IndexOf(values, values.Min());
            Assert.Equal([tag, values.Length.ToString(), LastStepText, ShowText.Number(values[^1]), ShowText.Number(values[argmin]), steps[argmin].ToString()],
                         Row(output, tag, 6));
        }
        var lossD = fx.DemoSeries["apt_image/loss_d"].Values;
        Assert.NotEqual(lossD.Length - 1, Array.IndexOf(lossD, lossD.Min()));                 // the min-step column is really tested

        double gap = fx.DemoSeries["apt_image/logit_real"].Values[^1] - fx.DemoSeries["apt_image/logit_fake"].Values[^1];
        Assert.Contains($"logit gap apt_image (real - fake) at step {NotebookRunFixture.LastStep}: {ShowText.Number(gap)}", output);
        Assert.Contains($"events  1 file(s), {1 + 31}", all);                                   // file_version + one event per step
        Assert.Contains("7 scalar tags, 217 points; all agree with metrics.csv", all);
        Assert.Contains("  checkpoints/step_000300.safetensors  2.9 KiB", output);
        Assert.Contains("  samples/apt_1step.png  96x48", output);

        var losses = PlotSvg(Path.Combine(fx.Demo.Plots, "explore_losses.png"));
        Assert.Equal(["teacher/loss", "cd/loss", "apt_image/loss_d", "apt_image/loss_g", "apt_image/r1"], SeriesNames(losses));
        Assert.All(losses.Descendants(Svg + "polyline"), p => Assert.Equal(31, ((string)p.Attribute("points")!).Split(' ').Length));
        Assert.Contains(losses.Descendants(Svg + "text"), t => t.Value == "0.01");              // log axis: decades
        var logits = PlotSvg(Path.Combine(fx.Demo.Plots, "explore_logits.png"));
        Assert.Equal(["apt_image/logit_real", "apt_image/logit_fake"], SeriesNames(logits));
        Assert.Contains("plot  plots/explore_losses.png  (800x480)", output);
    }

    private static string LastStepText => NotebookRunFixture.LastStep.ToString();

    [Fact]
    public void CompareRunsPrintsFinalValuesSideBySideAndOverlaysRuns()
    {
        var (result, output, all) = Run(Notebook("compare-runs.ipynb"), [fx.Demo.Root, fx.NoR1.Root]);
        Assert.True(result.Succeeded, all);
        foreach (var tag in fx.NoR1Series.Keys)
            Assert.Equal([tag, ShowText.Number(fx.DemoSeries[tag].Values[^1]), ShowText.Number(fx.NoR1Series[tag].Values[^1])], Rows(output, tag, 3)[0]);
        Assert.Contains("in some runs only: apt_image/r1", output);

        // Mean over the last quarter (steps >= 225): the second table's loss_g row.
        double Tail((long[] S, double[] V) s) => s.S.Zip(s.V).Where(p => p.First >= 225).Average(p => p.Second);
        var lossG = Rows(output, "apt_image/loss_g", 3);
        Assert.Equal(2, lossG.Count);
        Assert.Equal([ShowText.Number(Tail(fx.DemoSeries["apt_image/loss_g"])), ShowText.Number(Tail(fx.NoR1Series["apt_image/loss_g"]))], lossG[1].Skip(1));

        foreach (var tag in new[] { "loss_d", "loss_g", "logit_real", "logit_fake" })
        {
            var doc = PlotSvg(Path.Combine(fx.Demo.Plots, $"compare_apt_image_{tag}.png"));
            Assert.Equal(["demo/20260101-000000", "demo-no-r1/20260101-000000"], SeriesNames(doc));
        }
        Assert.True(File.Exists(Path.Combine(fx.Demo.Plots, "compare_cd_loss.png")));
    }

    [Fact]
    public void ComparisonSheetsPrintsTheTableFindsSheetsAndDrawsBars()
    {
        var (result, output, all) = Run(Notebook("comparison-sheets.ipynb"), [fx.Demo.Root]);
        Assert.True(result.Succeeded, all);
        Assert.Equal(["apt_1step", "1", "1", "0.3", "4.125", "0.397"], Row(output, "apt_1step", 6));
        Assert.Equal(["teacher_euler_50", "50", "100", "12.5", "3.25", "0.412"], Row(output, "teacher_euler_50", 6));
        Assert.Contains("lowest FD: teacher_euler_50 (3.25)", output);
        Assert.Contains("apt_1step: 100x fewer evaluations than teacher_euler_50, FD 4.125 vs 3.25", output);
        Assert.Contains(output, l => l.Trim() == "cd_1step                 samples/cd_1step.png");
        Assert.Contains(output, l => l.Trim() == "teacher_euler_4          (no sheet)");

        var fd = PlotSvg(Path.Combine(fx.Demo.Plots, "comparison_fd.png"));
        Assert.Equal(NotebookRunFixture.Methods, fd.Descendants(Svg + "text").Where(t => (string?)t.Attribute("class") == "xtick").Select(t => t.Value));
        var heights = fd.Descendants(Svg + "rect").Where(r => r.Parent!.Attribute("class")?.Value == "series")
            .Select(r => double.Parse((string)r.Attribute("height")!, CultureInfo.InvariantCulture)).Where(h => h > 0).ToList();
        Assert.Equal(4, heights.Count);
        for (int i = 1; i < 4; i++) Assert.Equal(NotebookRunFixture.Fd[i] / NotebookRunFixture.Fd[0], heights[i] / heights[0], 2);
        PlotSvg(Path.Combine(fx.Demo.Plots, "comparison_sharpness.png"));
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
