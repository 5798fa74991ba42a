using System.Buffers.Binary;
using AptLab.Data.Media;

namespace AptLab.Tests.Media;

public class WavTests
{
    private static float[] Stereo(int frames) =>
        Enumerable.Range(0, 2 * frames).Select(i => (i % 2 == 0 ? 0.8f : -0.3f) * MathF.Sin(i * 0.01f)).ToArray();

    [Fact]
    public void Pcm16RoundTripWithinOneStep()
    {
        var s = Stereo(1000);
        var bytes = Wav.Encode(s, 44100, 2);
        Assert.Equal(44 + 4000, bytes.Length);
        Assert.Equal(36 + 4000, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)));   // RIFF size
        Assert.Equal(44100 * 4, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(28)));  // byte rate
        var clip = Wav.Decode(bytes);
        Assert.Equal((44100, 2, 1000), (clip.SampleRate, clip.Channels, clip.Frames));
        Assert.True(s.Zip(clip.Samples).Max(p => Math.Abs(p.First - p.Second)) <= 0.5 / 32768 + 1e-9);   // half a quantisation step
    }

    [Fact]
    public void Float32RoundTripIsExact()
    {
        var s = Stereo(333);
        var clip = Wav.Decode(Wav.Encode(s, 16000, 2, WavSampleFormat.Float32));
        Assert.Equal(s, clip.Samples);
        var mono = clip.ToMono();
        Assert.Equal((s[0] + s[1]) / 2, mono[0]);
    }

    [Fact]
    public void SkipsUnknownChunksAndNamesBadFiles()
    {
        var plain = Wav.Encode([0.5f, -0.5f], 8000, 1);
        // Insert a "LIST" chunk of odd length (padded) between fmt and data.
        var list = new byte[] { (byte)'L', (byte)'I', (byte)'S', (byte)'T', 3, 0, 0, 0, 1, 2, 3, 0 };
        var withList = plain[..36].Concat(list).Concat(plain[36..]).ToArray();
        Assert.Equal(2, Wav.Decode(withList).Frames);
        using var tmp = TestPaths.Temp();
        File.WriteAllText(tmp.File("fake.wav"), "hello, not audio");
        Assert.Contains("fake.wav", Assert.Throws<MediaException>(() => Wav.Read(tmp.File("fake.wav"))).Message);
        File.WriteAllBytes(tmp.File("empty.wav"), []);
        Assert.Contains("empty", Assert.Throws<MediaException>(() => Wav.Read(tmp.File("empty.wav"))).Message);
    }
}
