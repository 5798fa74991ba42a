using System.Buffers.Binary;
using System.Text;

namespace AptLab.Torch.IO;

/// <summary>
/// Writes a zip archive of stored (uncompressed) entries the way torch.save does: each entry's data starts on a
/// 64-byte boundary (padding in a local-header extra field), CRC-32 filled in after the data, Zip64 records when
/// sizes or offsets need them. The stream must be seekable.
/// </summary>
internal sealed class ZipStoredWriter
{
    private const int Alignment = 64;
    private readonly Stream s;
    private readonly bool forceZip64;
    private readonly List<(byte[] name, uint crc, long size, long localOffset)> written = new();

    public ZipStoredWriter(Stream stream, bool forceZip64 = false)
    {
        if (!stream.CanSeek) throw new ArgumentException("zip writer needs a seekable stream");
        s = stream;
        this.forceZip64 = forceZip64;
    }

    public void Add(string name, ReadOnlySpan<byte> data) { var copy = data.ToArray(); Add(name, copy.Length, st => st.Write(copy)); }

    /// <summary>Adds an entry of exactly <paramref name="size"/> bytes produced by <paramref name="write"/>.</summary>
    public void Add(string name, long size, Action<Stream> write)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        long local = s.Position;
        bool z64 = forceZip64 || size >= 0xFFFFFFFF;
        int fixedExtra = z64 ? 20 : 0;                       // Zip64 extra: id, len, usize, csize
        long beforePad = local + 30 + nameBytes.Length + fixedExtra + 4;
        int pad = (int)((Alignment - beforePad % Alignment) % Alignment);

        Span<byte> h = stackalloc byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], (ushort)(z64 ? 45 : 20));   // version needed
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 0x0800);                     // flags: UTF-8 names
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0);                          // method: stored
        BinaryPrimitives.WriteUInt32LittleEndian(h[10..], 0);                         // DOS time/date
        BinaryPrimitives.WriteUInt32LittleEndian(h[14..], 0);                         // CRC, patched below
        uint size32 = z64 ? 0xFFFFFFFF : (uint)size;
        BinaryPrimitives.WriteUInt32LittleEndian(h[18..], size32);
        BinaryPrimitives.WriteUInt32LittleEndian(h[22..], size32);
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)(fixedExtra + 4 + pad));
        s.Write(h);
        s.Write(nameBytes);
        if (z64)
        {
            Span<byte> x = stackalloc byte[20];
            BinaryPrimitives.WriteUInt16LittleEndian(x, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(x[2..], 16);
            BinaryPrimitives.WriteUInt64LittleEndian(x[4..], (ulong)size);
            BinaryPrimitives.WriteUInt64LittleEndian(x[12..], (ulong)size);
            s.Write(x);
        }
        Span<byte> padHeader = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(padHeader, 0x4246);                  // "FB", as PyTorch
        BinaryPrimitives.WriteUInt16LittleEndian(padHeader[2..], (ushort)pad);
        s.Write(padHeader);
        for (int i = 0; i < pad; i++) s.WriteByte((byte)'Z');

        long dataStart = s.Position;
        var crcStream = new CrcStream(s);
        write(crcStream);
        if (s.Position - dataStart != size)
            throw new InvalidOperationException($"zip entry '{name}': wrote {s.Position - dataStart} bytes, declared {size}");
        long end = s.Position;
        s.Position = local + 14;
        Span<byte> c = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(c, crcStream.Crc);
        s.Write(c);
        s.Position = end;
        written.Add((nameBytes, crcStream.Crc, size, local));
    }

    /// <summary>Writes the central directory and end records.</summary>
    public void Finish()
    {
        long cdStart = s.Position;
        foreach (var (name, crc, size, local) in written)
        {
            bool bigSize = forceZip64 || size >= 0xFFFFFFFF, bigOffset = forceZip64 || local >= 0xFFFFFFFF;
            int extra = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
            var h = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(h, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), (ushort)(extra > 0 ? 45 : 20));  // made by
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), (ushort)(extra > 0 ? 45 : 20));  // needed
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(8), 0x0800);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), bigSize ? 0xFFFFFFFF : (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(24), bigSize ? 0xFFFFFFFF : (uint)size);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(28), (ushort)name.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(30), (ushort)(extra > 0 ? extra + 4 : 0));
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(42), bigOffset ? 0xFFFFFFFF : (uint)local);
            s.Write(h);
            s.Write(name);
            if (extra > 0)
            {
                var x = new byte[extra + 4];
                BinaryPrimitives.WriteUInt16LittleEndian(x, 1);
                BinaryPrimitives.WriteUInt16LittleEndian(x.AsSpan(2), (ushort)extra);
                int q = 4;
                if (bigSize)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(q), (ulong)size); q += 8;
                    BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(q), (ulong)size); q += 8;
                }
                if (bigOffset) BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(q), (ulong)local);
                s.Write(x);
            }
        }
        long cdEnd = s.Position, cdSize = cdEnd - cdStart;
        bool z64 = forceZip64 || written.Count >= 0xFFFF || cdStart >= 0xFFFFFFFF || cdSize >= 0xFFFFFFFF;
        if (z64)
        {
            var r = new byte[56 + 20];
            BinaryPrimitives.WriteUInt32LittleEndian(r, 0x06064b50);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(4), 44);                 // size of the rest
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(12), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(14), 45);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), (ulong)written.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(32), (ulong)written.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(40), (ulong)cdSize);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(48), (ulong)cdStart);
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(56), 0x07064b50);        // locator
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(64), (ulong)cdEnd);
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(72), 1);                 // total disks
            s.Write(r);
        }
        var e = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06054b50);
        ushort n16 = z64 ? (ushort)0xFFFF : (ushort)written.Count;
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(8), n16);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(10), n16);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(12), z64 ? 0xFFFFFFFF : (uint)cdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(16), z64 ? 0xFFFFFFFF : (uint)cdStart);
        s.Write(e);
    }

    /// <summary>Forwards writes and accumulates their CRC-32.</summary>
    private sealed class CrcStream(Stream inner) : Stream
    {
        public uint Crc { get; private set; }
        public override void Write(ReadOnlySpan<byte> buffer) { Crc = Crc32.Append(Crc, buffer); inner.Write(buffer); }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
