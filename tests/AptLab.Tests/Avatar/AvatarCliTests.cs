using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Avatar.Inference;
using AptLab.Tests.Distributed;
using Xunit.Abstractions;

namespace AptLab.Tests.Avatar;

/// <summary>The whole OmniAvatar inference on tiny random models: the pipeline over 2 chunks, and `aptlab avatar`
/// writing an mp4 with an audio stream.</summary>
public class AvatarCliTests(ITestOutputHelper log)
{
    private static string TinyConfig => Path.Combine(TestPaths.Repo, "configs", "omniavatar-tiny.yaml");

    private static float[] Tone(int samples) =>
        Enumerable.Range(0, samples).Select(i => 0.3f * MathF.Sin(2 * MathF.PI * 220 * i / 16000f)).ToArray();

    private static RgbImage Image(int w, int h)
    {
        var img = new RgbImage(w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) img.SetPixel(x, y, (byte)(x * 5), (byte)(y * 7), 128);
        return img;
    }

    [Fact]
    public void A_two_chunk_video_has_the_planned_frames()
    {
        using var _ = torch.NewScope();
        var cfg = ConfigLoader.Load<AvatarInferenceConfig>(TinyConfig);
        cfg.TokenizerPath = Path.Combine(TestPaths.Repo, cfg.TokenizerPath!);
        using var models = AvatarModels.Build(cfg);
        var events = new List<AvatarProgress>();
        // 0.45 s + 0.3 s silence = 12000 samples → ori_audio_len 19 → A = 20 → 2 chunks of 17 frames
        using var video = models.Pipeline(cfg).Generate(Image(60, 40), Tone(7200), "a red circle", cfg.Video, events.Add);
        var plan = video.Plan;
        log.WriteLine($"L={plan.FramesPerChunk}, A0={plan.OriAudioLen}, A={plan.PaddedAudioLen}, {plan.Chunks.Count} chunks, {video.Frames.size(0)} frames");
        Assert.Equal((17, 19, 20, 2), (plan.FramesPerChunk, plan.OriAudioLen, plan.PaddedAudioLen, plan.Chunks.Count));
        Assert.Equal([20L, 3, 32, 48], video.Frames.shape);                      // 60x40 → the 32x48 bucket (H, W)
        Assert.Equal(2 * 3 * 2, video.ModelCalls);                                 // 2 chunks × 3 steps × 2 passes
        Assert.Equal(2 * (1 + 3), events.Count);
        Assert.Equal(new AvatarProgress(2, 2, 3, 3), events[^1]);
        float min = video.Frames.min().item<float>(), max = video.Frames.max().item<float>();
        Assert.True(min >= 0 && max <= 1 && max > min);
    }

    [Fact]
    public void Aptlab_avatar_writes_an_mp4_with_an_audio_stream()
    {
        if (!Ffmpeg.IsAvailable) throw new InvalidOperationException("ffmpeg/ffprobe are required (Debian package ffmpeg)");
        using var dir = TestPaths.Temp();
        Png.Write(dir.File("ref.png"), Image(60, 40));
        Wav.Write(dir.File("speech.wav"), Tone(7200), 16000, 1);
        var yaml = File.ReadAllText(TinyConfig)
            .Replace("tokenizer_path: configs/demo/spiece.model", $"tokenizer_path: {Path.Combine(TestPaths.Repo, "configs", "demo", "spiece.model")}");
        File.WriteAllText(dir.File("tiny.yaml"), yaml);
        var output = dir.File("out.mp4");
        using var p = RankProcess.Start(["avatar", "--config", dir.File("tiny.yaml"), "--image", dir.File("ref.png"),
            "--audio", dir.File("speech.wav"), "--prompt", "a red circle", "--output", output], new Dictionary<string, string?>());
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "aptlab avatar did not finish");
        log.WriteLine(p.Stdout);
        log.WriteLine(p.Stderr);
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("chunk 2/2", p.Stderr);
        var info = Ffmpeg.Probe(output);
        Assert.NotNull(info.Video);
        Assert.NotNull(info.Audio);
        Assert.Equal((48, 32), (info.Video!.Width, info.Video.Height));
        Assert.Equal(25.0, info.Video.Fps, 3);
        Assert.Equal(20L, info.Video.FrameCount);
        log.WriteLine($"video {info.Video.DurationSeconds:F3} s, audio {info.Audio!.DurationSeconds:F3} s ({info.Audio.CodecName})");
        Assert.Equal("aac", info.Audio.CodecName);
        // the audio is delayed by 1/25 + 0.3 s: 0.45 s of tone ends at 0.79 s, inside the 0.8 s video
        Assert.InRange(info.Audio.DurationSeconds ?? 0, 0.7, 0.85);
        Assert.False(File.Exists(Path.Combine(dir.Path, ".out.silent.mp4")));

        // a bad config key is named
        File.WriteAllText(dir.File("bad.yaml"), yaml + "overlap_frame: 12\n");
        using var bad = RankProcess.Start(["avatar", "--config", dir.File("bad.yaml"), "--image", dir.File("ref.png"),
            "--audio", dir.File("speech.wav"), "--prompt", "x"], new Dictionary<string, string?>());
        Assert.True(bad.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("overlap_frame", bad.Stderr);
    }
}
