using System.Buffers.Binary;
using System.Text;

namespace AptLab.Torch.IO;

/// <summary>One zip entry located through the central directory and its local header.</summary>
internal sealed record ZipEntry(string Name, int Method, uint Crc, long CompressedSize, long Size, long DataOffset);

/// <summary>
/// Reads a zip archive's central directory (Zip64 included) and each entry's local header, giving the absolute
/// offset of every entry's data so stored entries can be read straight from a memory map. Only what torch.save
/// archives need; any inconsistency is an <see cref="InvalidDataException"/> naming the file.
/// </summary>
internal static class ZipDirectory
{
    private const uint EocdSig = 0x06054b50, Zip64LocatorSig = 0x07064b50, Zip64EocdSig = 0x06064b50;
    private const uint CentralSig = 0x02014b50, LocalSig = 0x04034b50;

    public static List<ZipEntry> Read(MappedFile f)
    {
        InvalidDataException Fail(string msg) => new($"zip archive {f.Path}: {msg}");
        long len = f.Length;
        if (len < 22) throw Fail($"truncated ({len} bytes): no end-of-central-directory record");

        // The end-of-central-directory record sits within the last 22 + 65535 bytes.
        long eocd = -1;
        for (long p = len - 22; p >= Math.Max(0, len - 22 - 65535); p--)
            if (U32(f, p) == EocdSig && p + 22 + U16(f, p + 20) == len) { eocd = p; break; }
        if (eocd < 0) throw Fail("no end-of-central-directory record: the file is truncated or not a zip archive");

        long count = U16(f, eocd + 10), cdSize = U32(f, eocd + 12), cdOffset = U32(f, eocd + 16);
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            long loc = eocd - 20;
            if (loc < 0 || U32(f, loc) != Zip64LocatorSig) throw Fail("Zip64 fields without a Zip64 locator");
            long z = (long)U64(f, loc + 8);
            if (z < 0 || z + 56 > len || U32(f, z) != Zip64EocdSig) throw Fail("bad Zip64 end-of-central-directory record");
            count = (long)U64(f, z + 32);
            cdSize = (long)U64(f, z + 40);
            cdOffset = (long)U64(f, z + 48);
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > len) throw Fail("central directory lies outside the file (truncated?)");

        var entries = new List<ZipEntry>((int)Math.Min(count, 1 << 16));
        long pos = cdOffset;
        for (long i = 0; i < count; i++)
        {
            if (pos + 46 > cdOffset + cdSize || U32(f, pos) != CentralSig) throw Fail($"corrupt central directory at entry {i}");
            int method = U16(f, pos + 10);
            uint crc = U32(f, pos + 16);
            long csize = U32(f, pos + 20), usize = U32(f, pos + 24);
            int nameLen = U16(f, pos + 28), extraLen = U16(f, pos + 30), commentLen = U16(f, pos + 32);
            long local = U32(f, pos + 42);
            var name = Encoding.UTF8.GetString(f.Span(pos + 46, nameLen));
            // Zip64 extended information: present fields replace those set to 0xFFFFFFFF, in this order.
            long e = pos + 46 + nameLen, eEnd = e + extraLen;
            while (e + 4 <= eEnd)
            {
                int id = U16(f, e), size = U16(f, e + 2);
                if (id == 1)
                {
                    long q = e + 4;
                    if (usize == 0xFFFFFFFF) { usize = (long)U64(f, q); q += 8; }
                    if (csize == 0xFFFFFFFF) { csize = (long)U64(f, q); q += 8; }
                    if (local == 0xFFFFFFFF) { local = (long)U64(f, q); }
                }
                e += 4 + size;
            }
            if (local < 0 || local + 30 > len || U32(f, local) != LocalSig) throw Fail($"entry '{name}': bad local header");
            long data = local + 30 + U16(f, local + 26) + U16(f, local + 28);
            if (csize < 0 || data + csize > len) throw Fail($"entry '{name}': data runs past the end of the file (truncated?)");
            entries.Add(new ZipEntry(name, method, crc, csize, usize, data));
            pos += 46 + nameLen + extraLen + commentLen;
        }
        return entries;
    }

    /// <summary>Checks the CRC-32 the central directory records for a stored entry against its bytes in
    /// <paramref name="f"/>; a mismatch is an <see cref="InvalidDataException"/> naming the entry and the file.</summary>
    public static unsafe void VerifyCrc(MappedFile f, ZipEntry e)
    {
        if (e.Method != 0) throw new InvalidDataException($"zip archive {f.Path}: entry '{e.Name}' is compressed (method {e.Method})");
        uint crc = 0;
        for (long off = 0; off < e.Size; off += 1 << 30)
        {
            int n = (int)Math.Min(1 << 30, e.Size - off);
            crc = Crc32.Append(crc, new ReadOnlySpan<byte>(f.At(e.DataOffset + off, n), n));
        }
        if (crc != e.Crc)
            throw new InvalidDataException($"zip archive {f.Path}: entry '{e.Name}' fails its CRC-32 check (recorded {e.Crc:x8}, " +
                                           $"computed {crc:x8}): the file is corrupt");
    }

    private static int U16(MappedFile f, long p) => BinaryPrimitives.ReadUInt16LittleEndian(f.Span(p, 2));
    private static uint U32(MappedFile f, long p) => BinaryPrimitives.ReadUInt32LittleEndian(f.Span(p, 4));
    private static ulong U64(MappedFile f, long p) => BinaryPrimitives.ReadUInt64LittleEndian(f.Span(p, 8));
}
