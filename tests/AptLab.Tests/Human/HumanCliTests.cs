using AptLab.Data.Media;
using AptLab.Human.Data;
using AptLab.Tests.Distributed;
using Xunit.Abstractions;

namespace AptLab.Tests.Human;

/// <summary>`aptlab human` end to end on the tiny random-weight config: an mp4 of the audio's length with the audio
/// stream, audio-driven and with pose over several segments (motion frames); bad inputs rejected before any model loads.</summary>
public class HumanCliTests(ITestOutputHelper log)
{
    private static string TinyConfig => Path.Combine(TestPaths.Repo, "configs", "omnihuman-tiny.yaml");

    private static (string yaml, string image, string audio, string pose) Inputs(TempDir dir, double seconds)
    {
        var faces = new TalkingFaces(32, (int)Math.Ceiling(seconds * 25), seed: 5);
        var clip = faces.Get(0);
        Png.Write(dir.File("ref.png"), faces.Images(clip.Pixels)[0]);
        Wav.Write(dir.File("speech.wav"), clip.Audio.AsSpan(0, (int)(seconds * 16000)), 16000, 1);
        clip.Keypoints(32).Save(dir.File("pose.json"));
        File.WriteAllText(dir.File("tiny.yaml"), File.ReadAllText(TinyConfig)
            .Replace("tokenizer_path: configs/demo/spiece.model", $"tokenizer_path: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}"));
        return (dir.File("tiny.yaml"), dir.File("ref.png"), dir.File("speech.wav"), dir.File("pose.json"));
    }

    private RankProcess Run(params string[] args)
    {
        var p = RankProcess.Start(["human", .. args], new Dictionary<string, string?>());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "aptlab human did not finish");
        log.WriteLine(p.Stdout);
        log.WriteLine(p.Stderr);
        return p;
    }

    [Fact]
    public void Aptlab_human_writes_the_frames_of_the_audio_with_its_audio_stream()
    {
        if (!Ffmpeg.IsAvailable) throw new InvalidOperationException("ffmpeg/ffprobe are required (Debian package ffmpeg)");
        using var dir = TestPaths.Temp();
        var (yaml, image, audio, pose) = Inputs(dir, 0.9);                                   // 22.5 -> 23 frames: 3 segments of 9
        foreach (var (name, extra) in new[] { ("audio.mp4", Array.Empty<string>()), ("both.mp4", new[] { "--pose", pose }) })
        {
            using var p = Run(["--config", yaml, "--image", image, "--audio", audio, "--prompt", "a yellow face", "--output", dir.File(name), .. extra]);
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("3 segment(s) of 9 frames, 23 frames kept", p.Stdout);
            var info = Ffmpeg.Probe(dir.File(name));
            Assert.NotNull(info.Audio);
            Assert.Equal((32, 32), (info.Video!.Width, info.Video.Height));
            Assert.Equal(23L, info.Video.FrameCount);
            Assert.Equal(25.0, info.Video.Fps, 3);
            Assert.InRange(info.Audio!.DurationSeconds ?? 0, 0.8, 0.96);
        }
        Assert.Empty(Directory.GetFiles(dir.Path, ".*.silent.mp4"));
    }

    [Fact]
    public void Bad_inputs_fail_before_any_model_loads_and_nothing_is_overwritten()
    {
        using var dir = TestPaths.Temp();
        var (yaml, image, audio, pose) = Inputs(dir, 0.3);
        File.WriteAllText(dir.File("taken.mp4"), "mine");
        File.WriteAllText(dir.File("bad.json"), "{\"frames\": [[[1, 2, 1]]]}");
        var cases = new (string[] args, string message)[]
        {
            (["--config", yaml, "--image", dir.File("missing.png"), "--audio", audio, "--prompt", "x", "--output", dir.File("a.mp4")], "image file not found"),
            (["--config", yaml, "--image", image, "--audio", audio, "--prompt", "x", "--output", dir.File("taken.mp4")], "does not overwrite"),
            (["--config", yaml, "--image", image, "--audio", audio, "--prompt", "x", "--output", dir.File("a.avi")], "must be an .mp4"),
            (["--config", yaml, "--image", image, "--audio", audio, "--prompt", "x", "--drive", "pose", "--output", dir.File("a.mp4")], "needs --pose"),
            (["--config", yaml, "--image", image, "--audio", audio, "--prompt", "x", "--pose", dir.File("bad.json"), "--output", dir.File("a.mp4")], "frame 0 must list 133 keypoints"),
            (["--config", dir.File("nope.yaml"), "--image", image, "--audio", audio, "--prompt", "x"], "config file not found"),
        };
        foreach (var (args, message) in cases)
        {
            using var p = Run(args);
            Assert.Equal(2, p.ExitCode);
            Assert.Contains(message, p.Stderr);
            Assert.DoesNotContain("random_weights", p.Stdout);                               // no model was built
        }
        Assert.Equal("mine", File.ReadAllText(dir.File("taken.mp4")));
        Assert.False(File.Exists(dir.File("a.mp4")));
    }
}
