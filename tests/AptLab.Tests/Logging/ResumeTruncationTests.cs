using AptLab.Logging;
using AptLab.Torch.IO;

namespace AptLab.Tests.Logging;

/// <summary>
/// A resumed run's logs are truncated per stage and tag, in metrics.csv and in the TensorBoard events alike, so that
/// interrupted-and-resumed logs equal the uninterrupted ones row for row. The scenario of issue 17: stage "vae" finished
/// (steps 1..8), stage "apt" was killed at step 7 with a checkpoint at step 5, and a global cut by step number (the old
/// rule) would have dropped vae rows 6..8 and kept none of the duplicates' structure right.
/// </summary>
public class ResumeTruncationTests
{
    private static readonly ResumePoint Resume = new ResumePoint().Keep("vae/").After("apt/", 5).Restart("video/");

    // (tag, step) rows the run logs: vae 1..8 (two tags), apt 1..7, video 1..2 (restarts: no checkpoint yet)
    private static IEnumerable<(string tag, long step)> Interrupted() =>
        Enumerable.Range(1, 8).SelectMany(s => new[] { ("vae/loss", (long)s), ("vae/kl", (long)s) })
        .Concat(Enumerable.Range(1, 7).Select(s => ("apt/loss_g", (long)s)))
        .Concat(Enumerable.Range(1, 2).Select(s => ("video/loss", (long)s)))
        .Append(("config", 0L));

    private static IEnumerable<(string tag, long step)> Expected() =>
        Interrupted().Where(r => !(r.tag.StartsWith("apt/") && r.step > 5) && !r.tag.StartsWith("video/"));

    [Fact]
    public void Rules_match_the_longest_prefix_and_keep_unmatched_tags()
    {
        Assert.True(Resume.Keeps("vae/loss", 1_000_000));
        Assert.True(Resume.Keeps("apt/loss_g", 5));
        Assert.False(Resume.Keeps("apt/loss_g", 6));
        Assert.False(Resume.Keeps("video/loss", 0));
        Assert.True(Resume.Keeps("other", 99));
        var nested = ResumePoint.All(3).After("a/", 10).After("a/b/", 1);
        Assert.Equal((true, false, true, false), (nested.Keeps("x", 3), nested.Keeps("x", 4), nested.Keeps("a/c", 10), nested.Keeps("a/b/c", 2)));
    }

    [Fact]
    public void Metrics_csv_drops_exactly_the_rows_the_resumed_stages_log_again()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("metrics.csv");
        using (var m = new MetricsCsv(path)) foreach (var (tag, step) in Interrupted()) m.Log(step, tag, step);
        File.AppendAllText(path, "7,apt/loss_");                                    // the killed process's torn last line
        using (new MetricsCsv(path, Resume)) { }
        var rows = File.ReadAllLines(path).Skip(1).Select(l => l.Split(',')).Select(f => (f[1], long.Parse(f[0])));
        Assert.Equal(Expected(), rows);
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), AtomicFile.IsTempName);
    }

    [Fact]
    public void Event_files_drop_the_same_rows_and_keep_the_others_byte_for_byte()
    {
        using var dir = TestPaths.Temp();
        string first;
        using (var w = new SummaryWriter(dir.Path, new SummaryWriterOptions { FlushEverySeconds = 0 }))
        {
            first = w.FilePath;
            foreach (var (tag, step) in Interrupted()) w.AddScalar(tag, step, step);
            w.AddScalars([new("apt/loss_d", 1), new("vae/loss_total", 2)], 6);      // one event, one value dropped
        }
        using (var w = new SummaryWriter(dir.Path, new SummaryWriterOptions { FlushEverySeconds = 0 }))   // an untouched second file
            w.AddScalar("vae/loss", 9, 9);
        var untouched = EventFileReader.FindEventFiles(dir.Path).Single(f => f != first);
        var untouchedBytes = File.ReadAllBytes(untouched);
        File.AppendAllBytes(first, new byte[7]);                                    // and a torn last record

        var warnings = new List<string>();
        int dropped = EventFileRewriter.Truncate(dir.Path, Resume, warnings.Add);
        Assert.Equal(2 + 2 + 1, dropped);                                           // apt 6, 7; video 1, 2; apt/loss_d at 6
        var events = EventFileReader.Read(first, tolerateTruncatedTail: false).ToList();
        Assert.Equal(SummaryWriter.FileVersion, events[0].FileVersion);
        var rows = events.SelectMany(e => e.Values.Select(v => (v.Tag, e.Step))).ToList();
        Assert.Equal(Expected().Append(("vae/loss_total", 6L)), rows);
        Assert.Equal(untouchedBytes, File.ReadAllBytes(untouched));
        Assert.Contains(warnings, w => w.Contains(first) && w.Contains("incomplete last record"));
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), AtomicFile.IsTempName);
    }

    /// <summary>Event files are read in creation order: the second and the tenth file of one process opened in the same
    /// second come as .1, .9, .10 (an ordinal sort puts .10 first and replays a resumed run's steps before the rest), and
    /// a later second after both.</summary>
    [Fact]
    public void Event_files_of_one_second_are_ordered_by_their_counter_as_a_number()
    {
        using var dir = TestPaths.Temp();
        string[] names = ["events.out.tfevents.1700000001.host.a.42.0", "events.out.tfevents.1700000000.host.a.42.10",
                          "events.out.tfevents.1700000000.host.a.42.9", "events.out.tfevents.1700000000.host.a.42.1"];
        foreach (var n in names) File.WriteAllBytes(dir.File(n), []);
        var order = EventFileReader.FindEventFiles(dir.Path).Select(Path.GetFileName).ToArray();
        Assert.Equal(new[] { names[3], names[2], names[1], names[0] }, order);
    }

    [Fact]
    public void Run_logger_truncates_both_sinks_before_it_writes()
    {
        using var dir = TestPaths.Temp();
        using (var log = new RunLogger(dir.Path, dir.File("metrics.csv"), resume: null))
            foreach (var (tag, step) in Interrupted()) log.Scalar(step, tag, step);
        using (var log = new RunLogger(dir.Path, dir.File("metrics.csv"), Resume))
            for (long s = 6; s <= 7; s++) log.Scalar(s, "apt/loss_g", s);           // the resumed stage logs its steps again
        var csv = MetricsCsv.Read(dir.File("metrics.csv")).Series("apt/loss_g").Steps;
        var tb = EventFileReader.Scalars(EventFileReader.ReadRun(dir.Path), "apt/loss_g").Steps;
        Assert.Equal(Enumerable.Range(1, 7).Select(i => (long)i), csv);
        Assert.Equal(csv, tb);
    }

    [Fact]
    public void Reader_warns_about_a_torn_last_record_and_reads_up_to_it()
    {
        using var dir = TestPaths.Temp();
        string path;
        using (var w = new SummaryWriter(dir.Path)) { path = w.FilePath; for (int i = 0; i < 5; i++) w.AddScalar("x", i, i); }
        var whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..^5]);                                      // the last record loses its tail
        var warnings = new List<string>();
        var steps = EventFileReader.Scalars(EventFileReader.Read(path, warn: warnings.Add), "x").Steps;
        Assert.Equal([0L, 1, 2, 3], steps);
        Assert.Contains(path, Assert.Single(warnings));
        Assert.Throws<InvalidDataException>(() => EventFileReader.Read(path, tolerateTruncatedTail: false).ToList());
    }

    [Fact]
    public void Orphaned_temporary_files_are_recognised_and_only_they_are_removed()
    {
        using var dir = TestPaths.Temp();
        Directory.CreateDirectory(dir.File("checkpoints"));
        var orphans = new[]
        {
            AtomicFile.TempName(dir.File("checkpoints/apt_image_000010.safetensors")),
            AtomicFile.TempName(dir.File("samples.mp4"), keepExtension: true),
        };
        var keep = new[] { dir.File("notes.tmp"), dir.File(".hidden"), dir.File("checkpoints/cd.safetensors"), dir.File(".x.1234.tmp") };
        foreach (var f in orphans.Concat(keep)) File.WriteAllText(f, "x");
        Assert.Equal(orphans.Order(), AtomicFile.RemoveOrphans(dir.Path).Order());
        Assert.All(keep, f => Assert.True(File.Exists(f), f));
        Assert.All(orphans, f => Assert.False(File.Exists(f), f));
    }
}
