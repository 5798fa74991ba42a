using System.Buffers.Binary;
using AptLab.Torch.IO;

namespace AptLab.Tests.Engine.IO;

/// <summary>Test helper: rewrites the CRC-32 of every stored entry of a (non-Zip64) zip archive in memory, so a test can
/// damage an entry's content on purpose and still reach the checks behind the CRC check.</summary>
public static class ZipCrcs
{
    public static byte[] Refresh(byte[] zip)
    {
        var b = (byte[])zip.Clone();
        int eocd = b.Length - 22;
        while (eocd >= 0 && BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(eocd)) != 0x06054b50) eocd--;
        Assert.True(eocd >= 0, "no end of central directory");
        int count = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(eocd + 10));
        int pos = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(eocd + 16));
        for (int i = 0; i < count; i++)
        {
            int size = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(pos + 20));
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(pos + 28));
            int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(pos + 30));
            int commentLen = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(pos + 32));
            int local = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(pos + 42));
            int data = local + 30 + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(local + 26)) + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(local + 28));
            uint crc = Crc32.Compute(b.AsSpan(data, size));
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(local + 14), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(pos + 16), crc);
            pos += 46 + nameLen + extraLen + commentLen;
        }
        return b;
    }
}
