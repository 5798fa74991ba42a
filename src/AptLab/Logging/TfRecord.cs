using System.Buffers.Binary;

namespace AptLab.Logging;

/// <summary>
/// TFRecord framing, all little-endian: <c>u64 length | u32 masked crc32c(length bytes) | data | u32 masked
/// crc32c(data)</c>, 16 + N bytes per record, no file header or footer.
/// </summary>
public static class TfRecord
{
    /// <summary>The framed record (16 + N bytes), for writing it in one piece.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> data)
    {
        var ms = new MemoryStream(data.Length + 16);
        Write(ms, data);
        return ms.ToArray();
    }

    public static void Write(Stream stream, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(head, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head[8..], Crc32C.MaskedCompute(head[..8]));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, Crc32C.MaskedCompute(data));
        stream.Write(head);
        stream.Write(data);
        stream.Write(tail);
    }

    /// <summary>
    /// Reads the records of <paramref name="stream"/>, checking both CRCs of each. A bad CRC throws
    /// <see cref="InvalidDataException"/> naming <paramref name="source"/> and the byte offset. An incomplete
    /// last record (a writer still busy, or one that met a full disk) ends the sequence when
    /// <paramref name="tolerateTruncatedTail"/> (reported to <paramref name="warn"/>, if given), else throws.
    /// </summary>
    public static IEnumerable<byte[]> Read(Stream stream, string source, bool tolerateTruncatedTail = true, Action<string>? warn = null)
    {
        var head = new byte[12];
        var tail = new byte[4];
        long offset = 0;
        while (true)
        {
            int got = stream.ReadAtLeast(head, 12, throwOnEndOfStream: false);
            if (got == 0) yield break;
            if (got < 12) { Truncated(source, offset, tolerateTruncatedTail, warn); yield break; }
            ulong len = BinaryPrimitives.ReadUInt64LittleEndian(head);
            uint lenCrc = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(8));
            if (Crc32C.MaskedCompute(head.AsSpan(0, 8)) != lenCrc)
                throw new InvalidDataException($"{source}: record at byte {offset} has a bad length CRC (corrupt file)");
            if (len > int.MaxValue) throw new InvalidDataException($"{source}: record at byte {offset} claims {len} bytes");
            var data = new byte[len];
            if (stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false) < data.Length
                || stream.ReadAtLeast(tail, 4, throwOnEndOfStream: false) < 4)
            {
                Truncated(source, offset, tolerateTruncatedTail, warn);
                yield break;
            }
            if (Crc32C.MaskedCompute(data) != BinaryPrimitives.ReadUInt32LittleEndian(tail))
                throw new InvalidDataException($"{source}: record at byte {offset} has a bad data CRC (corrupt file)");
            yield return data;
            offset += 16 + (long)len;
        }
    }

    private static void Truncated(string source, long offset, bool tolerate, Action<string>? warn)
    {
        if (!tolerate) throw new InvalidDataException($"{source}: last record (at byte {offset}) is truncated");
        warn?.Invoke($"{source}: the last record (at byte {offset}) is incomplete; read up to the last complete record");
    }
}
