using System.Text.Json;

namespace AptLab.Torch.IO;

/// <summary>One tensor entry of a safetensors header. Offsets are relative to the start of the byte buffer.</summary>
public sealed record SafetensorsTensorInfo(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    public long NumBytes => End - Begin;
    public long Numel => Shape.Aggregate(1L, (a, b) => a * b);
    /// <summary>The engine dtype, or null for a dtype the engine cannot hold (e.g. F8_E4M3).</summary>
    public ScalarType? ScalarType => SafetensorsDtype.TryToScalarType(Dtype, out var t) ? t : null;
}

/// <summary>
/// Parses and validates a safetensors header with upstream's rules (safetensors <c>tensor.rs</c>): header length
/// at most 100,000,000 bytes and inside the file, valid UTF-8 JSON, no duplicate keys, known dtypes, and data
/// offsets that tile the buffer with no gap or overlap, each span equal to numel x dtype size, the buffer ending
/// exactly at the end of the file. Every failure is an <see cref="InvalidDataException"/> naming the file and,
/// where there is one, the tensor.
/// </summary>
internal static class SafetensorsHeader
{
    public const long MaxHeaderBytes = 100_000_000;

    public sealed record Parsed(List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata, long DataStart);

    public static Parsed Read(MappedFile file)
    {
        var path = file.Path;
        InvalidDataException Fail(string msg) => new($"safetensors file {path}: {msg}");

        if (file.Length < 8) throw Fail($"truncated: the file has {file.Length} bytes, fewer than the 8-byte header length");
        ulong n = BitConverter.ToUInt64(file.Span(0, 8));
        if (n > MaxHeaderBytes) throw Fail($"header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
        if ((long)n > file.Length - 8)
            throw Fail($"header length {n} runs past the end of the file ({file.Length} bytes): the file is truncated or not safetensors");
        long dataStart = 8 + (long)n;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(file.Span(8, (int)n).ToArray(), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw Fail($"the header is not valid UTF-8 JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Fail($"the header is a JSON {doc.RootElement.ValueKind}, not an object");

        var tensors = new List<SafetensorsTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(prop.Name)) throw Fail($"duplicate key '{prop.Name}' in the header");
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw Fail("__metadata__ is not an object of strings");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw Fail($"__metadata__ value '{m.Name}' is not a string");
                    if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Fail($"duplicate __metadata__ key '{m.Name}'");
                }
                continue;
            }
            tensors.Add(ParseTensor(prop.Name, prop.Value, Fail));
        }

        // The spans, sorted by offset, must tile [0, buffer length) exactly.
        long bufferLength = file.Length - dataStart;
        long expected = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin > expected)
                throw Fail($"tensor '{t.Name}': gap of {t.Begin - expected} bytes before its data (data_offsets [{t.Begin}, {t.End}) should begin at {expected})");
            if (t.Begin < expected)
                throw Fail($"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}) overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End})");
            long need = NumBytes(t, Fail);
            if (t.End - t.Begin != need)
                throw Fail($"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}) span {t.End - t.Begin} bytes but {t.Dtype}[{string.Join(", ", t.Shape)}] needs {need}");
            expected = t.End;
            previous = t;
        }
        if (expected != bufferLength)
            throw Fail(expected > bufferLength
                ? $"truncated: the tensors need a {expected}-byte buffer but the file holds {bufferLength} bytes after the header" + (previous is null ? "" : $" (last tensor '{previous.Name}')")
                : $"{bufferLength - expected} unused bytes after the last tensor" + (previous is null ? "" : $" '{previous.Name}'") + ": the buffer must end at the end of the file");
        return new Parsed(tensors, metadata, dataStart);
    }

    private static SafetensorsTensorInfo ParseTensor(string name, JsonElement e, Func<string, InvalidDataException> fail)
    {
        if (e.ValueKind != JsonValueKind.Object) throw fail($"tensor '{name}': entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw fail($"tensor '{name}': missing string 'dtype'");
        var dtype = dt.GetString()!;
        if (SafetensorsDtype.BitsOf(dtype) is null) throw fail($"tensor '{name}': unknown dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw fail($"tensor '{name}': missing 'shape' list");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw fail($"tensor '{name}': shape entry {d} is not a non-negative integer");
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw fail($"tensor '{name}': 'data_offsets' must be a list [begin, end]");
        long begin = Offset(off[0]), end = Offset(off[1]);
        if (end < begin) throw fail($"tensor '{name}': data_offsets [{begin}, {end}) end before they begin");
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);

        long Offset(JsonElement x) => x.ValueKind == JsonValueKind.Number && x.TryGetInt64(out var v) && v >= 0 ? v
            : throw fail($"tensor '{name}': data offset {x} is not a non-negative integer");
    }

    private static long NumBytes(SafetensorsTensorInfo t, Func<string, InvalidDataException> fail)
    {
        try
        {
            long numel = 1;
            foreach (var d in t.Shape) numel = checked(numel * d);
            long bits = checked(numel * SafetensorsDtype.BitsOf(t.Dtype)!.Value);
            if (bits % 8 != 0) throw fail($"tensor '{t.Name}': {numel} elements of {t.Dtype} do not fill whole bytes");
            return bits / 8;
        }
        catch (OverflowException) { throw fail($"tensor '{t.Name}': shape [{string.Join(", ", t.Shape)}] overflows"); }
    }
}
