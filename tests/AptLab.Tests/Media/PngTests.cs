using System.Buffers.Binary;
using AptLab.Data.Media;
using AptLab.Torch.IO;

namespace AptLab.Tests.Media;

public class PngTests
{
    private static RgbImage Noise(int w, int h, int channels, int seed)
    {
        var img = new RgbImage(w, h, channels);
        new Random(seed).NextBytes(img.Pixels);
        return img;
    }

    [Theory]
    [InlineData(1, 1, 3)]
    [InlineData(37, 19, 3)]
    [InlineData(64, 48, 1)]
    [InlineData(3, 200, 1)]
    public void RoundTripIsBitExact(int w, int h, int c)
    {
        var img = Noise(w, h, c, w * 1000 + h);
        var back = Png.Decode(Png.Encode(img));
        Assert.Equal((w, h, c), (back.Width, back.Height, back.Channels));
        Assert.Equal(img.Pixels, back.Pixels);
    }

    [Fact]
    public void ChunksAreWellFormed()
    {
        var png = Png.Encode(Noise(10, 7, 3, 1));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        var types = new List<string>();
        for (int pos = 8; pos < png.Length;)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            types.Add(System.Text.Encoding.ASCII.GetString(png, pos + 4, 4));
            Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len)), Crc32.Compute(png.AsSpan(pos + 4, 4 + len)));
            pos += 12 + len;
        }
        Assert.Equal(["IHDR", "IDAT", "IEND"], types);
        Assert.Equal(10, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));     // IHDR width
        Assert.Equal(7, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));      // IHDR height
        Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, png[24..29]);                   // 8-bit RGB, no interlace
    }

    [Fact]
    public void CorruptChunkIsReportedWithItsSource()
    {
        var png = Png.Encode(Noise(8, 8, 3, 2));
        png[40] ^= 0xFF;                                                           // inside IDAT
        var e = Assert.Throws<MediaException>(() => Png.Decode(png, "sample.png"));
        Assert.Contains("sample.png", e.Message);
        Assert.Contains("CRC", e.Message);
        Assert.Contains("not a PNG", Assert.Throws<MediaException>(() => Png.Decode(new byte[20], "x.png")).Message);
    }

    [Theory]
    [InlineData("sub")]
    [InlineData("up")]
    [InlineData("avg")]
    [InlineData("paeth")]
    [InlineData("mixed")]
    public void DecodesFfmpegPngForEachScanlineFilter(string pred)
    {
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg not found: install the Debian package ffmpeg (make deps)");
        using var tmp = TestPaths.Temp();
        var img = new RgbImage(40, 30);
        for (int y = 0; y < 30; y++)
            for (int x = 0; x < 40; x++) img.SetPixel(x, y, (byte)(x * 6), (byte)(y * 8), (byte)((x * y * 7) % 256));
        var path = tmp.File($"{pred}.png");
        ToolProcess.Run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "40x30", "-i", "-",
                                   "-pred", pred, "-frames:v", "1", path], path, writeStdin: s => s.Write(img.Pixels));
        Assert.Equal(img.Pixels, Png.Read(path).Pixels);
    }

    [Fact]
    public void FfmpegReadsOurPngAndWritesPngs()
    {
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg not found: install the Debian package ffmpeg (make deps)");
        using var tmp = TestPaths.Temp();
        var img = Noise(23, 17, 3, 5);
        Png.Write(tmp.File("ours.png"), img);
        Assert.Equal(img.Pixels, Ffmpeg.ReadImage(tmp.File("ours.png")).Pixels);
        Ffmpeg.WriteImage(tmp.File("theirs.png"), img);
        Assert.Equal(img.Pixels, Png.Read(tmp.File("theirs.png")).Pixels);
        Ffmpeg.WriteImage(tmp.File("lossy.jpg"), RgbImage.Solid(32, 32, 30, 140, 220));
        var jpg = Ffmpeg.ReadImage(tmp.File("lossy.jpg")).MeanColor();
        Assert.True(Math.Abs(jpg[0] - 30) < 4 && Math.Abs(jpg[1] - 140) < 4 && Math.Abs(jpg[2] - 220) < 4, string.Join(",", jpg));
    }
}
