using AptLab.Logging;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Engine.IO;

/// <summary>
/// A full disk in the middle of a write: the FIRST error is the one reported (it names the file), no temporary file is
/// left, an earlier file at the path is byte-for-byte intact, and the TensorBoard events file and metrics.csv end at
/// their last complete record (a strict reader accepts them). Checked on a stream that fails like a full disk and, where
/// a tmpfs can be mounted, on a real 64 KiB file system.
/// </summary>
public class DiskFullTests(ITestOutputHelper log)
{
    private static string[] Files(string dir) => Directory.GetFiles(dir).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void Atomic_file_reports_the_first_error_and_removes_its_temp_file()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("state.bin");
        File.WriteAllText(path, "the earlier version");
        DiskFullStream? disk = null;
        var e = Assert.Throws<IOException>(() =>
        {
            using var f = new AtomicFile(path, s => disk = new DiskFullStream(s, 1000));
            f.Stream.Write(new byte[5000]);          // buffered: the disk is met by Commit's flush
            f.Commit();
        });
        Assert.Contains("No space left on device (failure #1)", e.Message);   // not a later failure of a second flush
        Assert.Equal("the earlier version", File.ReadAllText(path));
        Assert.Equal(["state.bin"], Files(dir.Path));
        Assert.NotNull(disk);
    }

    [Fact]
    public void Safetensors_writer_names_the_file_and_keeps_the_earlier_one()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var path = dir.File("model.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = torch.ones(4) });
        var before = File.ReadAllBytes(path);
        var big = new Dictionary<string, Tensor> { ["w"] = torch.randn(64, 64), ["b"] = torch.randn(64) };
        var e = Assert.Throws<IOException>(() => Safetensors.Save(path, big, filter: s => new DiskFullStream(s, 4096)));
        Assert.Contains(path, e.Message);
        Assert.Contains("No space left on device (failure #1)", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], Files(dir.Path));

        // sharded: no shard and no index appear when one of them cannot be written
        var shards = new Dictionary<string, Tensor> { ["a"] = torch.randn(256), ["b"] = torch.randn(256), ["c"] = torch.randn(2048) };
        Assert.Throws<IOException>(() => Safetensors.SaveSharded(dir.Path, "sharded", shards, maxShardBytes: 2048,
                                                                 filter: s => new DiskFullStream(s, 4096)));
        Assert.Equal(["model.safetensors"], Files(dir.Path));
    }

    [Fact]
    public void Events_file_ends_at_its_last_complete_record_and_writing_resumes_when_space_returns()
    {
        using var dir = TestPaths.Temp();
        DiskFullStream? disk = null;
        var warnings = new List<string>();
        var options = new SummaryWriterOptions
        {
            FlushEveryRecords = 4, FlushEverySeconds = 0, Filter = s => disk = new DiskFullStream(s, 600), Warn = warnings.Add,
        };
        using (var w = new SummaryWriter(dir.Path, options))
        {
            IOException? error = null;
            int written = 0;
            for (int step = 0; step < 200 && error is null; step++)
            {
                try { w.AddScalar("loss", step * 0.5, step); written++; }
                catch (IOException e) { error = e; }
            }
            Assert.NotNull(error);
            Assert.Contains(w.FilePath, error!.Message);
            Assert.Contains("No space left on device (failure #1)", error.Message);
            // what is on disk reads strictly: no partial record, the steps are a prefix of what was logged
            var kept = EventFileReader.Scalars(EventFileReader.Read(w.FilePath, tolerateTruncatedTail: false), "loss").Steps;
            Assert.True(kept.Length > 0 && kept.Length < written);
            Assert.Equal(Enumerable.Range(0, kept.Length).Select(i => (long)i), kept);
            Assert.True(new FileInfo(w.FilePath).Length <= 600);

            disk!.Limit = long.MaxValue;                              // space is freed: logging continues after the gap
            w.AddScalar("loss", -1, 1000);
            w.Flush();
            var after = EventFileReader.Scalars(EventFileReader.Read(w.FilePath, tolerateTruncatedTail: false), "loss").Steps;
            Assert.Equal(kept.Append(1000L), after);
        }
        Assert.Empty(warnings);
    }

    [Fact]
    public void Events_writer_dispose_never_throws_and_warns_instead()
    {
        using var dir = TestPaths.Temp();
        var warnings = new List<string>();
        var w = new SummaryWriter(dir.Path, new SummaryWriterOptions
        {
            FlushEveryRecords = 1000, FlushEverySeconds = 0, Filter = s => new DiskFullStream(s, 200), Warn = warnings.Add,
        });
        for (int i = 0; i < 50; i++) w.AddScalar("x", i, i);        // buffered: nothing written yet
        w.Dispose();                                                 // would throw from a using block and hide the cause
        Assert.Contains(warnings, m => m.Contains("No space left on device") && m.Contains(w.FilePath));
        Assert.Single(EventFileReader.Read(w.FilePath, tolerateTruncatedTail: false));   // the file_version record only
    }

    [Fact]
    public void On_a_full_tmpfs_writers_fail_cleanly()
    {
        using var fs = SmallTmpfs.TryMount("64k");
        if (fs is null) { log.WriteLine("skipped: mounting a tmpfs is not permitted here"); return; }
        using var _ = torch.NewScope();

        // safetensors: a 256 KiB tensor does not fit; the earlier file stays, no temporary file remains
        var model = fs.File("model.safetensors");
        Safetensors.Save(model, new Dictionary<string, Tensor> { ["w"] = torch.ones(16) });
        var before = File.ReadAllBytes(model);
        var e = Assert.Throws<IOException>(() => Safetensors.Save(model, new Dictionary<string, Tensor> { ["w"] = torch.randn(256, 256) }));
        log.WriteLine(e.Message);
        Assert.Contains(model, e.Message);
        Assert.Equal(before, File.ReadAllBytes(model));
        Assert.Equal(["model.safetensors"], Files(fs.Path));

        // metrics.csv and the events file: fill the disk, then both read strictly up to their last complete row/record
        using (var csv = new MetricsCsv(fs.File("metrics.csv")))
        using (var w = new SummaryWriter(fs.Path, new SummaryWriterOptions { FlushEveryRecords = 1, FlushEverySeconds = 0, Warn = _ => { } }))
        {
            bool csvFull = false, eventsFull = false;
            for (int step = 0; step < 100_000 && !(csvFull && eventsFull); step++)
            {
                if (!csvFull) try { csv.Log(step, "train/a_fairly_long_metric_name", step * 0.25); } catch (IOException) { csvFull = true; }
                if (!eventsFull) try { w.AddScalar("train/a_fairly_long_metric_name", step * 0.25, step); } catch (IOException) { eventsFull = true; }
            }
            Assert.True(csvFull && eventsFull);
            var rows = MetricsCsv.Read(csv.FilePath).Series("train/a_fairly_long_metric_name").Steps;
            Assert.True(File.ReadAllText(csv.FilePath).EndsWith('\n'));
            var records = EventFileReader.Scalars(EventFileReader.Read(w.FilePath, tolerateTruncatedTail: false), "train/a_fairly_long_metric_name").Steps;
            log.WriteLine($"full after {rows.Length} csv rows and {records.Length} event records");
            Assert.Equal(Enumerable.Range(0, rows.Length).Select(i => (long)i), rows);
            Assert.Equal(Enumerable.Range(0, records.Length).Select(i => (long)i), records);
        }
        Assert.DoesNotContain(Directory.GetFiles(fs.Path), f => AtomicFile.IsTempName(f));
    }
}
