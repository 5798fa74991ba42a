using AptLab.Data.Media;
using AptLab.Experiments;
using AptLab.Tests.Distributed;

namespace AptLab.Tests.Experiments;

/// <summary>`aptlab compare` on the demo-smoke run folder: teacher at two step counts and CFG scales, the CD and
/// APT students in one and two steps; sheets, mp4 grid and CSV with wall time and NFE.</summary>
[Collection("demo-smoke")]
public class CompareCliTests(DemoSmokeRun demo)
{
    private static (int Exit, string All) Cli(params string[] args)
    {
        using var p = RankProcess.Start(args, new Dictionary<string, string?>());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), p.Describe("aptlab compare"));
        return (p.ExitCode, p.Describe("aptlab compare"));
    }

    [Fact]
    public void Compare_writes_sheets_video_and_costs_per_method()
    {
        using var tmp = TestPaths.Temp();
        var outDir = Path.Combine(tmp.Path, "cmp", "x");
        var (exit, all) = Cli("compare", "--run", demo.Run.Root, "--methods", "teacher:4:cfg2,teacher:2,cd:1,apt:1,apt:2",
            "--prompt", "a red circle", "--prompt", "a blue square moving left", "--samples", "4", "--sheet-prompts", "2", "--out", outDir);
        Assert.True(exit == 0, all);
        var rows = File.ReadAllLines(Path.Combine(outDir, "comparison.csv"));
        Assert.Equal(ComparisonWriter.CsvHeader, rows[0]);
        foreach (var kind in new[] { "image", "video" })
        {
            Assert.Contains(rows, r => r.StartsWith($"{kind},teacher 4 steps CFG 2,4,8,"));
            Assert.Contains(rows, r => r.StartsWith($"{kind},teacher 2 steps CFG 4,2,4,"));     // the teacher's own CFG scale
            Assert.Contains(rows, r => r.StartsWith($"{kind},cd 1 step,1,1,"));
            Assert.Contains(rows, r => r.StartsWith($"{kind},apt 2 steps,2,2,"));
        }
        Assert.Equal(1 + 2 * 5, rows.Length);
        Assert.All(rows.Skip(1), r => Assert.True(double.Parse(r.Split(',')[4], System.Globalization.CultureInfo.InvariantCulture) > 0, r));
        var sheet = Png.Read(Path.Combine(outDir, "samples", "image", "comparison.png"));
        Assert.True(sheet.Width > 2 * demo.Config.Data.Size && sheet.Height > 5 * demo.Config.Data.Size, $"{sheet.Width}x{sheet.Height}");
        var mp4 = Ffmpeg.Probe(Path.Combine(outDir, "samples", "video", "comparison.mp4"));
        Assert.NotEmpty(mp4.Streams);
        var recorded = AptLab.Config.ConfigLoader.Load<ExperimentConfig>(Path.Combine(outDir, "config.yaml"));
        Assert.Equal(["a red circle", "a blue square moving left"], recorded.Compare.Prompts);
        Assert.Equal(5, recorded.Compare.Methods.Count);

        var (bad, badAll) = Cli("compare", "--run", demo.Run.Root, "--methods", "teacher:4,nope:1");
        Assert.Equal(2, bad);
        Assert.Contains("no model named 'nope'", badAll);
    }

    /// <summary>`aptlab compare-runs` on the demo-smoke run and its no-R1 twin: a table with every shared tag's last
    /// value per run, an overlay figure whose raw curves are exactly the runs' metrics, the runs left untouched; a
    /// missing run folder is one error naming it, before anything is written.</summary>
    [Fact]
    public void Compare_runs_puts_two_runs_side_by_side_without_touching_them()
    {
        var (a, b) = (demo.Run.Root, demo.NoR1.Root);
        static Dictionary<string, DateTime> Snapshot(string dir) =>
            Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var before = Snapshot(a).Concat(Snapshot(b)).ToDictionary();
        using var tmp = TestPaths.Temp();
        var outDir = Path.Combine(tmp.Path, "cr");
        var (exit, all) = Cli("compare-runs", a, b, "--out", outDir, "--tags", "cd/loss,apt_image/loss_d");
        Assert.True(exit == 0, all);
        Assert.Equal(before, Snapshot(a).Concat(Snapshot(b)).ToDictionary());

        var runs = new[] { AptLab.Logging.RunReader.Open(a), AptLab.Logging.RunReader.Open(b) };
        foreach (var tag in AptLab.Logging.RunReader.CommonTags(runs).Where(t => !t.StartsWith("time/")))
            Assert.Contains(tag, all);
        var lastD = runs.Select(r => AptLab.Notebooks.DataFrameHtml.Number(r.Series("apt_image/loss_d").Values[^1])).ToArray();
        Assert.Contains(lastD[0], all);
        Assert.Contains(lastD[1], all);

        var plotted = File.ReadAllLines(Path.Combine(outDir, "compare_runs.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        foreach (var run in runs)
            foreach (var tag in new[] { "cd/loss", "apt_image/loss_d" })
            {
                var raw = plotted.Where(f => f[0] == tag && f[1] == run.Name + " (raw)").ToList();
                var series = run.Series(tag);
                Assert.Equal(series.Steps.Select(x => (double)x), raw.Select(f => double.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture)));
                Assert.Equal(series.Values, raw.Select(f => double.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture)));
            }
        Assert.True(Png.Read(Path.Combine(outDir, "compare_runs.png")).Width > 0);

        var missing = Path.Combine(tmp.Path, "no-such-run");
        var outDir2 = Path.Combine(tmp.Path, "cr2");
        var (bad, badAll) = Cli("compare-runs", a, missing, "--out", outDir2);
        Assert.Equal(2, bad);
        Assert.Contains("no-such-run", badAll);
        Assert.False(Directory.Exists(outDir2));
    }
}
