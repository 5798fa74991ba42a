using System.Buffers.Binary;
using System.IO.Compression;
using AptLab.Torch.IO;

namespace AptLab.Data.Media;

/// <summary>
/// PNG encoder (8-bit RGB or grayscale, one IDAT, filter 0) and a decoder for 8-bit non-interlaced PNGs
/// (gray, RGB, RGBA with alpha dropped; all five scanline filters). Every chunk's CRC-32 is checked on read.
/// </summary>
public static class Png
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static byte[] Encode(RgbImage image, CompressionLevel level = CompressionLevel.Optimal)
    {
        var ms = new MemoryStream();
        ms.Write(Signature);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], image.Height);
        ihdr[8] = 8;                                            // bit depth
        ihdr[9] = (byte)(image.Channels == 3 ? 2 : 0);          // colour type: 2 RGB, 0 gray
        ihdr[10] = ihdr[11] = ihdr[12] = 0;                     // deflate, adaptive filtering, no interlace
        WriteChunk(ms, "IHDR", ihdr);

        var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, level, leaveOpen: true))
        {
            int stride = image.Width * image.Channels;
            for (int y = 0; y < image.Height; y++)
            {
                z.WriteByte(0);                                 // filter type 0 (None)
                z.Write(image.Pixels, y * stride, stride);
            }
        }
        WriteChunk(ms, "IDAT", idat.GetBuffer().AsSpan(0, (int)idat.Length));
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    public static void Write(string path, RgbImage image)
    {
        var bytes = Encode(image);
        Ffmpeg.WriteAtomically(path, bytes);
    }

    public static RgbImage Read(string path)
    {
        MediaException.CheckInputFile(path);
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes PNG bytes; <paramref name="source"/> names the data in error messages.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> png, string source = "<png bytes>")
    {
        if (png.Length < 8 || !png[..8].SequenceEqual(Signature)) throw new MediaException(source, "not a PNG file (bad signature)");
        int pos = 8, width = 0, height = 0, colorType = -1;
        var idat = new MemoryStream();
        bool ended = false;
        while (!ended)
        {
            if (pos + 12 > png.Length) throw new MediaException(source, $"PNG truncated at byte {pos}");
            int len = BinaryPrimitives.ReadInt32BigEndian(png[pos..]);
            if (len < 0 || pos + 12 + (long)len > png.Length) throw new MediaException(source, $"PNG chunk at byte {pos} runs past the end");
            var typeAndData = png.Slice(pos + 4, 4 + len);
            string type = System.Text.Encoding.ASCII.GetString(typeAndData[..4]);
            var data = typeAndData[4..];
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(png[(pos + 8 + len)..]);
            if (Crc32.Compute(typeAndData) != stored) throw new MediaException(source, $"PNG chunk {type} at byte {pos} has a bad CRC");
            switch (type)
            {
                case "IHDR":
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    colorType = data[9];
                    if (data[8] != 8) throw new MediaException(source, $"PNG bit depth {data[8]} is not supported (only 8)");
                    if (colorType is not (0 or 2 or 6)) throw new MediaException(source, $"PNG colour type {colorType} is not supported (gray, RGB, RGBA)");
                    if (data[12] != 0) throw new MediaException(source, "interlaced PNG is not supported");
                    break;
                case "IDAT": idat.Write(data); break;
                case "IEND": ended = true; break;
            }
            pos += 12 + len;
        }
        if (colorType < 0) throw new MediaException(source, "PNG has no IHDR chunk");

        int bpp = colorType switch { 0 => 1, 2 => 3, _ => 4 };
        int stride = width * bpp;
        var raw = new byte[(long)(stride + 1) * height];
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            z.ReadExactly(raw);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new MediaException(source, "PNG image data is corrupt or truncated", e);
        }
        Unfilter(raw, stride, height, bpp, source);

        var img = new RgbImage(width, height, colorType == 0 ? 1 : 3);
        int outBpp = img.Channels;
        for (int y = 0; y < height; y++)
        {
            int row = y * (stride + 1) + 1;
            if (bpp == outBpp) { Array.Copy(raw, row, img.Pixels, y * width * outBpp, stride); continue; }
            for (int x = 0; x < width; x++)                 // RGBA -> RGB (alpha dropped)
                Array.Copy(raw, row + x * 4, img.Pixels, (y * width + x) * 3, 3);
        }
        return img;
    }

    // Undoes the per-row filters in place; raw holds rows of [filter byte, stride bytes].
    private static void Unfilter(byte[] raw, int stride, int height, int bpp, string source)
    {
        for (int y = 0; y < height; y++)
        {
            int row = y * (stride + 1), cur = row + 1, prev = row - stride;   // prev: previous row's first byte
            byte filter = raw[row];
            for (int i = 0; i < stride; i++)
            {
                int a = i >= bpp ? raw[cur + i - bpp] : 0;
                int b = y > 0 ? raw[prev + i] : 0;
                int c = i >= bpp && y > 0 ? raw[prev + i - bpp] : 0;
                int pred = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) >> 1,
                    4 => Paeth(a, b, c),
                    _ => throw new MediaException(source, $"PNG row {y} has unknown filter type {filter}"),
                };
                raw[cur + i] = (byte)(raw[cur + i] + pred);
            }
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        for (int i = 0; i < 4; i++) head[4 + i] = (byte)type[i];
        s.Write(head);
        s.Write(data);
        uint crc = Crc32.Append(Crc32.Compute(head[4..]), data);
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }
}
