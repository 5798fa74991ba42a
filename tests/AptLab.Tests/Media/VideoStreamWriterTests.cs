using AptLab.Data.Media;

namespace AptLab.Tests.Media;

/// <summary>
/// Frames streamed to ffmpeg as they are produced (docs/omniavatar.md#long-audio): the video holds every frame in
/// order, nothing appears under the target's name before <see cref="VideoStreamWriter.Complete"/>, and an abandoned or
/// failing stream leaves an existing target byte for byte and no temporary file (docs/reliability.md).
/// </summary>
public class VideoStreamWriterTests
{
    public VideoStreamWriterTests() => Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");

    private static RgbImage Frame(int i) => RgbImage.Solid(32, 24, (byte)(i * 20 % 256), 40, (byte)(250 - i * 20 % 256));
    private static string[] Files(string dir) => Directory.GetFiles(dir).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void Streamed_frames_make_one_video_in_order_that_appears_only_when_complete()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("long.mp4");
        using (var writer = new VideoStreamWriter(path, 32, 24, fps: 10))
        {
            for (int i = 0; i < 3 * VideoStreamWriter.QueueFrames; i++)        // more frames than the queue holds
            {
                writer.Write(Frame(i));
                Assert.False(File.Exists(path), "the target must not exist before the video is complete");
            }
            writer.Complete();
            Assert.Equal(3 * VideoStreamWriter.QueueFrames, writer.Frames);
        }
        var video = Ffmpeg.ReadVideo(path);
        Assert.Equal(3 * VideoStreamWriter.QueueFrames, video.Frames.Count);
        for (int i = 0; i < video.Frames.Count; i++)
            Assert.InRange(video.Frames[i].Pixels[0], Frame(i).Pixels[0] - 6, Frame(i).Pixels[0] + 6);   // H.264 at crf 18
        Assert.Equal(["long.mp4"], Files(dir.Path));
    }

    [Fact]
    public void An_abandoned_stream_leaves_the_existing_file_and_no_temporary_file()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("result.mp4");
        Ffmpeg.WriteVideo(path, [Frame(1), Frame(2)], fps: 10);
        var before = File.ReadAllBytes(path);
        using (var writer = new VideoStreamWriter(path, 32, 24, fps: 10))
        {
            for (int i = 0; i < 12; i++) writer.Write(Frame(i));
            // an exception in the generation: disposed without Complete
        }
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["result.mp4"], Files(dir.Path));
    }

    [Fact]
    public void A_failing_encoder_is_reported_naming_the_target_and_changes_nothing()
    {
        using var dir = TestPaths.Temp();
        var path = dir.File("result.mp4");
        File.WriteAllText(path, "an earlier result");
        var e = Assert.Throws<MediaException>(() =>
        {
            using var writer = new VideoStreamWriter(path, 32, 24, fps: 10, crf: -5);   // ffmpeg refuses the option
            for (int i = 0; i < 1000; i++) writer.Write(Frame(i));
            writer.Complete();
        });
        Assert.StartsWith(path + ":", e.Message);
        Assert.Equal("an earlier result", File.ReadAllText(path));
        Assert.Equal(["result.mp4"], Files(dir.Path));
        using (var writer = new VideoStreamWriter(path, 32, 24, fps: 10))
            Assert.Contains("frame 0 is 8x8", Assert.Throws<ArgumentException>(() => writer.Write(RgbImage.Solid(8, 8, 1, 2, 3))).Message);
        Assert.Equal("an earlier result", File.ReadAllText(path));
    }
}
