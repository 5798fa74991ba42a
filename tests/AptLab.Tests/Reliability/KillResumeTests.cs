using System.Globalization;
using AptLab.Logging;
using AptLab.Torch.IO;
using AptLab.Tests.Distributed;

namespace AptLab.Tests.Reliability;

/// <summary>
/// `aptlab run` killed with SIGKILL at chosen points of the demo study (in the VAE stage, mid-APT between two
/// checkpoints, and during a checkpoint write, with the file complete under its temporary name), then `--resume`d: the
/// resumed run's metrics.csv and TensorBoard scalars equal an uninterrupted run's row for row (values bit for bit,
/// except wall-clock quantities), and the killed writer's temporary file is gone. The process is stopped at the point by
/// the APTLAB_TEST_KILL_AT hook and killed by the test. On the old code the resumed logs held each re-run stage twice
/// (metrics.csv was only cut by step number, and the demo passed no resume point at all).
/// </summary>
public class KillResumeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);                   // hang guard, not a timing check

    // demo-smoke with a smaller comparison (image only): every training stage, a few seconds per run
    private static string Config(TempDir tmp)
    {
        var path = tmp.File("smoke.yaml");
        File.WriteAllText(path, $"base: {Path.Combine(TestPaths.Repo, "configs", "demo-smoke.yaml")}\nresults: {tmp.File("results")}\n" +
            $"text: {{tokenizer: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}}}\n" +
            "data: {heldout_samples: 8}\ncompare: {samples: 4, sheet_prompts: 2, teacher_steps: [2], video: false}\n");
        return path;
    }

    private static RankProcess Start(string config, string? killAt, params string[] args) =>
        RankProcess.Start(["run", config, .. args], new Dictionary<string, string?>
        {
            ["APTLAB_THREADS"] = "1",                                                   // same bits in every run
            [AptLab.Torch.KillPoint.Variable] = killAt,
        });

    [Fact]
    public void Runs_killed_in_the_vae_stage_mid_apt_and_mid_checkpoint_resume_with_the_logs_of_an_uninterrupted_run()
    {
        using var tmp = TestPaths.Temp();
        var config = Config(tmp);
        var points = new[] { "vae:2", "apt_image:3", "commit:apt_video-step-000002.safetensors" };
        string Folder(string id) => Path.Combine(tmp.Path, "results", "demo-smoke", id);

        // the uninterrupted run and the three killed ones side by side (one thread each)
        using var clean = Start(config, null, "--run-id", "clean");
        var killed = points.Select((p, i) => Start(config, p, "--run-id", $"kill{i}")).ToList();
        try
        {
            for (int i = 0; i < points.Length; i++)
            {
                var p = killed[i];
                var until = DateTime.UtcNow + Limit;
                while (!p.Stderr.Contains($"kill point reached: {points[i]}") && !p.Process.HasExited && DateTime.UtcNow < until) Thread.Sleep(50);
                Assert.True(p.Stderr.Contains($"kill point reached: {points[i]}"), p.Describe(points[i]));
                p.Process.Kill();                                                      // SIGKILL
                Assert.True(p.WaitForExit(Limit));
                Assert.Equal(128 + 9, p.ExitCode);                                      // killed by signal 9
            }
            Assert.True(clean.WaitForExit(Limit), "the uninterrupted run did not finish");
            Assert.True(clean.ExitCode == 0, clean.Describe("clean"));
        }
        finally { foreach (var p in killed) p.Dispose(); }

        var orphan = Directory.GetFiles(Path.Combine(Folder("kill2"), "checkpoints"), ".*").Single(AtomicFile.IsTempName);
        Assert.Contains("apt_video-step-000002.safetensors", orphan);

        var resumed = points.Select((_, i) => Start(config, null, "--resume", Folder($"kill{i}"))).ToList();
        try
        {
            foreach (var (p, i) in resumed.Select((p, i) => (p, i)))
            {
                Assert.True(p.WaitForExit(Limit), $"the resumed run after {points[i]} did not finish");
                Assert.True(p.ExitCode == 0, p.Describe(points[i]));
            }
        }
        finally { foreach (var p in resumed) p.Dispose(); }

        Assert.Contains("removed 1 unfinished temporary file(s)", resumed[2].Stdout);
        Assert.False(File.Exists(orphan));
        var cleanCsv = CsvRows(Folder("clean"));
        var cleanTb = TbScalars(Folder("clean"));
        Assert.Contains(cleanCsv, r => r.Tag == "apt_video/loss_g");
        for (int i = 0; i < points.Length; i++)
        {
            var run = Folder($"kill{i}");
            Assert.Empty(Directory.GetFiles(run, ".*", SearchOption.AllDirectories).Where(AtomicFile.IsTempName));
            AssertSameRows($"metrics.csv after a kill at {points[i]}", cleanCsv, CsvRows(run));
            AssertSameRows($"TensorBoard scalars after a kill at {points[i]}", cleanTb, TbScalars(run));
            AssertSameRows($"TensorBoard text, histograms and images after a kill at {points[i]}", TbOthers(Folder("clean")), TbOthers(run));
        }
    }

    private sealed record Row(long Step, string Tag, double Value);

    // Wall-clock quantities differ between any two runs; everything else is computed bit for bit alike.
    private static bool Timed(string tag) => tag.StartsWith("time/") || tag.EndsWith("samples_per_s") || tag.StartsWith("hparams/time/");

    private static void AssertSameRows(string what, IReadOnlyList<Row> expected, IReadOnlyList<Row> actual)
    {
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            var (e, a) = (expected[i], actual[i]);
            Assert.True(e.Step == a.Step && e.Tag == a.Tag && (Timed(e.Tag) || e.Value.Equals(a.Value)),
                $"{what}: row {i + 1} is ({a.Step}, {a.Tag}, {a.Value:R}), the uninterrupted run has ({e.Step}, {e.Tag}, {e.Value:R})");
        }
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} rows, the uninterrupted run has {expected.Count}");
    }

    private static List<Row> CsvRows(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => l.Split(','))
            .Select(f => new Row(long.Parse(f[0], CultureInfo.InvariantCulture), f[1],
                f[2] == "nan" ? double.NaN : double.Parse(f[2], CultureInfo.InvariantCulture))).ToList();

    // The scalars of every event file in TensorBoard's order.
    private static List<Row> TbScalars(string run) =>
        EventFileReader.ReadRun(Path.Combine(run, "events"))
            .SelectMany(e => e.Values.Where(v => v.SimpleValue is not null).Select(v => new Row(e.Step, v.Tag, v.SimpleValue!.Value))).ToList();

    // The other values (text, histograms, images, hparams) by tag and step: a resumed run writes its config text
    // again, in its own event file, so these are compared as a set.
    private static List<Row> TbOthers(string run) =>
        EventFileReader.ReadRun(Path.Combine(run, "events"))
            .SelectMany(e => e.Values.Where(v => v.SimpleValue is null).Select(v => new Row(e.Step, v.Tag, 0)))
            .OrderBy(r => r.Tag, StringComparer.Ordinal).ThenBy(r => r.Step).ToList();
}
