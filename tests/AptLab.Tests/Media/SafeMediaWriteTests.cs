using AptLab.Data.Media;
using AptLab.Torch.IO;

namespace AptLab.Tests.Media;

/// <summary>
/// Media writers never delete what the user owns: ffmpeg writes a temporary file beside the target (keeping the
/// extension for its format detection) that is renamed over the target only on success; a failing ffmpeg leaves an
/// existing target byte-for-byte intact and no temporary file. The output-path validator refuses, before any work, the
/// paths a command could not (or must not) write, and creates nothing.
/// </summary>
public class SafeMediaWriteTests
{
    public SafeMediaWriteTests() => Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");

    private static List<RgbImage> Frames(int n, byte red) => Enumerable.Range(0, n).Select(_ => RgbImage.Solid(32, 32, red, 40, 200)).ToList();
    private static string[] Files(string dir) => Directory.GetFiles(dir).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void A_failing_ffmpeg_leaves_an_existing_target_intact_and_no_temp_file()
    {
        using var dir = TestPaths.Temp();
        var video = dir.File("clip.mp4");
        Ffmpeg.WriteVideo(video, Frames(3, 10), fps: 8);
        var before = File.ReadAllBytes(video);

        // a bad codec option: ffmpeg opens (creates) its output, then fails
        var e = Assert.Throws<MediaException>(() => Ffmpeg.WriteVideo(video, Frames(5, 250), fps: 8, crf: -5));
        Assert.StartsWith(video + ":", e.Message);
        Assert.DoesNotContain(".tmp-", e.Message);                                    // the target is named, not the temporary file
        Assert.Equal(before, File.ReadAllBytes(video));

        // the user's file with an extension ffmpeg cannot write: untouched (it used to be deleted)
        var notes = dir.File("notes.txt");
        File.WriteAllText(notes, "my notes");
        Assert.Throws<MediaException>(() => Ffmpeg.WriteImage(notes, RgbImage.Solid(8, 8, 1, 2, 3)));
        Assert.Throws<MediaException>(() => Ffmpeg.MuxAudio(video, WriteTone(dir), notes));
        Assert.Equal("my notes", File.ReadAllText(notes));
        Assert.Equal(["clip.mp4", "notes.txt", "tone.wav"], Files(dir.Path));
    }

    [Fact]
    public void A_successful_write_replaces_the_target_whole()
    {
        using var dir = TestPaths.Temp();
        var video = dir.File("clip.mp4");
        Ffmpeg.WriteVideo(video, Frames(3, 10), fps: 8);
        Ffmpeg.WriteVideo(video, Frames(6, 250), fps: 8);
        var decoded = Ffmpeg.ReadVideo(video);
        Assert.Equal(6, decoded.Frames.Count);
        Assert.InRange(decoded.Frames[0].Pixels[0], 240, 255);
        var png = dir.File("sheet.png");
        Png.Write(png, RgbImage.Solid(4, 4, 9, 9, 9));
        Assert.Equal(9, Png.Read(png).Pixels[0]);
        Assert.Equal(["clip.mp4", "sheet.png"], Files(dir.Path));
    }

    private static string WriteTone(TempDir dir)
    {
        var path = dir.File("tone.wav");
        Wav.Write(path, Enumerable.Range(0, 1600).Select(i => 0.2f * MathF.Sin(i * 0.3f)).ToArray(), 16000, 1);
        return path;
    }

    [Fact]
    public void Output_paths_are_checked_before_any_work_and_nothing_is_created()
    {
        using var dir = TestPaths.Temp();
        File.WriteAllText(dir.File("notes.txt"), "mine");
        File.WriteAllText(dir.File("old.mp4"), "an earlier result");
        Directory.CreateDirectory(dir.File("folder.mp4"));
        var before = Files(dir.Path);

        OutputPathException Refused(Func<string> check) => Assert.Throws<OutputPathException>(() => check());
        Assert.Contains("'.txt' is not a video file extension", Refused(() => OutputPath.CheckFile(dir.File("notes.txt"), OutputKind.Video, "--output", overwrite: true)).Message);
        Assert.Contains("is a folder", Refused(() => OutputPath.CheckFile(dir.File("folder.mp4"), OutputKind.Video, "--output", false)).Message);
        Assert.Contains("the file exists", Refused(() => OutputPath.CheckFile(dir.File("old.mp4"), OutputKind.Video, "--output", false)).Message);
        Assert.Contains("is a file, so the folder cannot be made", Refused(() => OutputPath.CheckFile(dir.File("notes.txt/x.mp4"), OutputKind.Video, "--output", false)).Message);
        Assert.Contains("--out", Refused(() => OutputPath.CheckFolder(dir.File("notes.txt"), "--out", [], false)).Message);
        Assert.Contains("already holds old.mp4", Refused(() => OutputPath.CheckFolder(dir.Path, "--out", ["old.mp4", "new.png"], false)).Message);

        Assert.Equal(dir.File("old.mp4"), OutputPath.CheckFile(dir.File("old.mp4"), OutputKind.Video, "--output", overwrite: true));
        Assert.Equal(dir.File("new/deeper/clip.MOV"), OutputPath.CheckFile(dir.File("new/deeper/clip.MOV"), OutputKind.Video, "--output", false));
        Assert.Equal(dir.File("new"), OutputPath.CheckFolder(dir.File("new"), "--out", ["sample.mp4"], false));
        Assert.Equal(before, Files(dir.Path));                                        // no probe, no folder left behind
        Assert.False(Directory.Exists(dir.File("new")));

        // a run folder AptLab made (config.yaml + metrics.csv) may have its products rewritten
        var run = dir.File("results/demo/r1");
        Directory.CreateDirectory(Path.Combine(run, "samples"));
        File.WriteAllText(Path.Combine(run, "config.yaml"), "name: demo\n");
        File.WriteAllText(Path.Combine(run, "metrics.csv"), "step,tag,value,wall_time\n");
        File.WriteAllText(Path.Combine(run, "samples", "grid.mp4"), "x");
        OutputPath.CheckFile(Path.Combine(run, "samples", "grid.mp4"), OutputKind.Video, "--output", overwrite: false);
        Assert.DoesNotContain(Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories), f => AtomicFile.IsTempName(f));
    }
}
