using AptLab.Data.Media;

namespace AptLab.Tests.Media;

public class FfmpegTests
{
    public FfmpegTests() => Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");

    private static (byte R, byte G, byte B) Colour(int i) => ((byte)(i * 16), (byte)(255 - i * 16), (byte)((i * 37 + 40) % 256));

    private static double Rms(ReadOnlySpan<float> x) { double s = 0; foreach (var v in x) s += v * v; return Math.Sqrt(s / x.Length); }

    // Goertzel power at frequency f (Hz).
    private static double Power(ReadOnlySpan<float> x, double f, int rate)
    {
        double w = 2 * Math.PI * f / rate, c = 2 * Math.Cos(w), s1 = 0, s2 = 0;
        foreach (var v in x) { double s0 = v + c * s1 - s2; s2 = s1; s1 = s0; }
        return s1 * s1 + s2 * s2 - c * s1 * s2;
    }

    private static double DominantFrequency(ReadOnlySpan<float> x, int rate)
    {
        double best = 0, bestF = 0;
        for (double f = 50; f <= 2000; f += 1)
        {
            double p = Power(x, f, rate);
            if (p > best) { best = p; bestF = f; }
        }
        return bestF;
    }

    [Fact]
    public void VideoRoundTripKeepsFrameColours()
    {
        using var tmp = TestPaths.Temp();
        var frames = Enumerable.Range(0, 16).Select(i => { var c = Colour(i); return RgbImage.Solid(64, 48, c.R, c.G, c.B); }).ToList();
        var path = tmp.File("out/clip.mp4");
        Ffmpeg.WriteVideo(path, frames, fps: 25);

        var info = Ffmpeg.Probe(path);
        Assert.Equal((64, 48, 25.0, 16L), (info.Video!.Width, info.Video.Height, info.Video.Fps, info.Video.FrameCount));
        Assert.Equal("h264", info.Video.CodecName);

        var back = Ffmpeg.ReadVideo(path);
        Assert.Equal(16, back.Frames.Count);
        Assert.Equal(25.0, back.Fps);
        for (int i = 0; i < 16; i++)
        {
            var m = back.Frames[i].MeanColor();
            var c = Colour(i);
            // H.264 at crf 18 in yuv420p: measured max error 3 levels; neighbouring frames differ by 16.
            Assert.True(Math.Abs(m[0] - c.R) < 6 && Math.Abs(m[1] - c.G) < 6 && Math.Abs(m[2] - c.B) < 6,
                        $"frame {i}: mean ({m[0]:F1}, {m[1]:F1}, {m[2]:F1}) vs ({c.R}, {c.G}, {c.B})");
        }

        var small = Ffmpeg.ReadVideo(path, width: 32, maxFrames: 5);
        Assert.Equal((32, 24, 5), (small.Width, small.Height, small.Frames.Count));
        Assert.True(Math.Abs(small.Frames[4].MeanColor()[0] - Colour(4).R) < 6);
    }

    [Fact]
    public void OddSizedFramesArePaddedToEven()
    {
        using var tmp = TestPaths.Temp();
        var frames = Enumerable.Range(0, 4).Select(_ => RgbImage.Solid(63, 47, 200, 100, 50)).ToList();
        Ffmpeg.WriteVideo(tmp.File("odd.mp4"), frames, fps: 8);
        var back = Ffmpeg.ReadVideo(tmp.File("odd.mp4"));
        Assert.Equal((64, 48, 4), (back.Width, back.Height, back.Frames.Count));
        var m = back.Frames[3].MeanColor();
        Assert.True(Math.Abs(m[0] - 200) < 6 && Math.Abs(m[1] - 100) < 6 && Math.Abs(m[2] - 50) < 6);
    }

    [Fact]
    public void SineWavDecodesTo16kMonoWithItsFrequencyAndRms()
    {
        using var tmp = TestPaths.Temp();
        const int rate = 44100;
        var stereo = new float[2 * rate];                                        // 1 s, 440 Hz, amplitude 0.5 on both channels
        for (int i = 0; i < rate; i++) stereo[2 * i] = stereo[2 * i + 1] = 0.5f * MathF.Sin(2 * MathF.PI * 440 * i / rate);
        Wav.Write(tmp.File("sine.wav"), stereo, rate, 2);

        var info = Ffmpeg.Probe(tmp.File("sine.wav"));
        Assert.Equal((44100, 2), (info.Audio!.SampleRate, info.Audio.Channels));
        var mono = Ffmpeg.ReadAudio(tmp.File("sine.wav"));
        Assert.InRange(mono.Length, 15990, 16010);
        var mid = mono.AsSpan(1000, 14000);
        Assert.Equal(440, DominantFrequency(mid, 16000));
        Assert.Equal(0.5 / Math.Sqrt(2), Rms(mid), 2);                          // 0.3536 to within 0.005

        // Channels are averaged: a sine on the left only comes out at half amplitude.
        for (int i = 0; i < rate; i++) stereo[2 * i + 1] = 0;
        Wav.Write(tmp.File("left.wav"), stereo, rate, 2);
        Assert.Equal(0.25 / Math.Sqrt(2), Rms(Ffmpeg.ReadAudio(tmp.File("left.wav")).AsSpan(1000, 14000)), 2);
    }

    /// <summary>A WAV at the requested rate is read in-process: the samples equal ffmpeg's decoding of the same audio in
    /// a container only ffmpeg reads (Wave64, stream copied), for PCM16 mono, PCM16 stereo (the channels' mean) and
    /// float32; a WAV at another rate still goes through ffmpeg's resampler.</summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(2, true)]
    public void WavAtTheRequestedRateReadsAsFfmpegDecodesIt(int channels, bool float32)
    {
        using var tmp = TestPaths.Temp();
        var rng = new Random(channels * 10 + (float32 ? 1 : 0));
        var x = Enumerable.Range(0, 3001 * channels).Select(_ => (float)(rng.NextDouble() * 1.8 - 0.9)).ToArray();
        Wav.Write(tmp.File("a.wav"), x, 16000, channels, float32 ? WavSampleFormat.Float32 : WavSampleFormat.Pcm16);
        ToolProcess.Run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", tmp.File("a.wav"), "-c", "copy", tmp.File("a.w64")], tmp.File("a.w64"));
        var fast = Ffmpeg.ReadAudio(tmp.File("a.wav"));
        var viaFfmpeg = Ffmpeg.ReadAudio(tmp.File("a.w64"));
        Assert.Equal(3001, fast.Length);
        Assert.Equal(viaFfmpeg.Take(3001), fast);                               // Wave64 pads its data chunk with silence
        Assert.All(viaFfmpeg.Skip(3001), v => Assert.Equal(0f, v));
        if (float32 && channels == 2) Assert.Equal((x[0] + x[1]) / 2, fast[0]);

        Wav.Write(tmp.File("b.wav"), x, 8000, channels);                        // another rate: resampled to 16 kHz
        Assert.InRange(Ffmpeg.ReadAudio(tmp.File("b.wav")).Length, 6000, 6004);
    }

    [Fact]
    public void WriteAudioThroughFfmpegAndReadItBack()
    {
        using var tmp = TestPaths.Temp();
        var s = Enumerable.Range(0, 8000).Select(i => 0.3f * MathF.Sin(2 * MathF.PI * 1000 * i / 16000f)).ToArray();
        Ffmpeg.WriteAudio(tmp.File("a.wav"), s, 16000);
        var clip = Wav.Read(tmp.File("a.wav"));                                  // ffmpeg writes PCM16 WAV
        Assert.Equal((16000, 1, 8000), (clip.SampleRate, clip.Channels, clip.Frames));
        Assert.True(s.Zip(clip.Samples).Max(p => Math.Abs(p.First - p.Second)) <= 0.5 / 32768 + 1e-7);   // same rounding as Wav.Encode
        Ffmpeg.WriteAudio(tmp.File("a.m4a"), s, 16000);                          // lossy AAC
        var aac = Ffmpeg.ReadAudio(tmp.File("a.m4a"));
        Assert.Equal(1000, DominantFrequency(aac.AsSpan(2000, 4000), 16000));
    }

    [Fact]
    public void MuxDelaysTheAudio()
    {
        using var tmp = TestPaths.Temp();
        var frames = Enumerable.Range(0, 16).Select(i => RgbImage.Solid(32, 32, 10, 20, 30)).ToList();
        Ffmpeg.WriteVideo(tmp.File("v.mp4"), frames, fps: 16);                   // 1 s of video
        var tone = Enumerable.Range(0, 32000).Select(i => 0.5f * MathF.Sin(2 * MathF.PI * 440 * i / 16000f)).ToArray();
        Wav.Write(tmp.File("a.wav"), tone, 16000, 1);                            // 2 s of audio
        Ffmpeg.MuxAudio(tmp.File("v.mp4"), tmp.File("a.wav"), tmp.File("av.mp4"), audioOffsetSeconds: 0.5);

        var info = Ffmpeg.Probe(tmp.File("av.mp4"));
        Assert.NotNull(info.Video);
        Assert.Equal("aac", info.Audio!.CodecName);
        Assert.InRange(info.DurationSeconds!.Value, 0.9, 1.2);                   // cut to the video
        var a = Ffmpeg.ReadAudio(tmp.File("av.mp4"));
        Assert.True(Rms(a.AsSpan(800, 6000)) < 0.01, $"rms before the offset {Rms(a.AsSpan(800, 6000))}");          // 0.05-0.425 s
        Assert.Equal(0.5 / Math.Sqrt(2), Rms(a.AsSpan(9600, 4800)), 1);                                              // 0.6-0.9 s
        Assert.Equal(440, DominantFrequency(a.AsSpan(9600, 4800), 16000));
    }

    [Fact]
    public void BadInputGivesOneClearErrorNamingTheFile()
    {
        using var tmp = TestPaths.Temp();
        var missing = tmp.File("missing.mp4");
        var e = Assert.Throws<MediaException>(() => Ffmpeg.ReadVideo(missing));
        Assert.Equal(missing, e.FilePath);
        Assert.Contains("not found", e.Message);

        File.WriteAllBytes(tmp.File("empty.mp4"), []);
        Assert.Contains("empty", Assert.Throws<MediaException>(() => Ffmpeg.ReadAudio(tmp.File("empty.mp4"))).Message);

        File.WriteAllText(tmp.File("notes.mp4"), "this is not a video, just text\n");
        var bad = Assert.Throws<MediaException>(() => Ffmpeg.ReadVideo(tmp.File("notes.mp4")));
        Assert.Contains(tmp.File("notes.mp4"), bad.Message);
        Assert.Throws<MediaException>(() => Ffmpeg.ReadImage(tmp.File("notes.mp4")));

        Wav.Write(tmp.File("tone.wav"), new float[1600], 16000, 1);
        Assert.Contains("no video stream", Assert.Throws<MediaException>(() => Ffmpeg.ReadVideo(tmp.File("tone.wav"))).Message);

        var tool = Assert.Throws<MediaException>(() => ToolProcess.Run("aptlab-no-such-tool", [], "input.mp4", installHint: "install it"));
        Assert.Contains("input.mp4", tool.Message);
        Assert.Contains("install it", tool.Message);

        var slow = Assert.Throws<MediaException>(() => ToolProcess.Run("sleep", ["30"], "slow.mp4", timeout: TimeSpan.FromMilliseconds(300)));
        Assert.Contains("timed out", slow.Message);
    }
}
