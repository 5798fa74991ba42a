using Google.Protobuf;

namespace AptLab.Logging;

/// <summary>
/// Builds one protobuf message by hand with <see cref="CodedOutputStream"/>, proto3 style: callers write
/// fields in field-number order, scalar defaults (0, "", empty) are skipped unless <c>always</c> (oneof
/// members are always written), nested messages are written as length-delimited bytes.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream buffer = new();
    private readonly CodedOutputStream output;

    public ProtoWriter() => output = new CodedOutputStream(buffer, leaveOpen: true);

    public ProtoWriter Double(int field, double v, bool always = false)
    {
        if (v == 0 && !always && !double.IsNegative(v)) return this;
        output.WriteTag(field, WireFormat.WireType.Fixed64);
        output.WriteDouble(v);
        return this;
    }

    public ProtoWriter Float(int field, float v, bool always = false)
    {
        if (v == 0 && !always && !float.IsNegative(v)) return this;
        output.WriteTag(field, WireFormat.WireType.Fixed32);
        output.WriteFloat(v);
        return this;
    }

    public ProtoWriter Int64(int field, long v, bool always = false)
    {
        if (v == 0 && !always) return this;
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteInt64(v);
        return this;
    }

    public ProtoWriter Int32(int field, int v, bool always = false)
    {
        if (v == 0 && !always) return this;
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteInt32(v);
        return this;
    }

    public ProtoWriter String(int field, string? v, bool always = false)
    {
        if (string.IsNullOrEmpty(v) && !always) return this;
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteString(v ?? "");
        return this;
    }

    /// <summary>Bytes or an already serialised nested message.</summary>
    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> v, bool always = false)
    {
        if (v.IsEmpty && !always) return this;
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(v));                  // length prefix + bytes
        return this;
    }

    public ProtoWriter Message(int field, ProtoWriter nested) => Bytes(field, nested.ToArray(), always: true);

    public ProtoWriter PackedDoubles(int field, ReadOnlySpan<double> v)
    {
        if (v.IsEmpty) return this;
        var bytes = new byte[v.Length * 8];
        for (int i = 0; i < v.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(8 * i), v[i]);
        return Bytes(field, bytes);
    }

    public ProtoWriter PackedFloats(int field, ReadOnlySpan<float> v)
    {
        if (v.IsEmpty) return this;
        var bytes = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(4 * i), v[i]);
        return Bytes(field, bytes);
    }

    public byte[] ToArray()
    {
        output.Flush();
        return buffer.ToArray();
    }
}
