using System.Buffers.Binary;
using System.Numerics;

namespace AptLab.Torch.IO;

/// <summary>
/// torch.save's format before PyTorch 1.6 (still written with <c>_use_new_zipfile_serialization=False</c>): five
/// pickles in a row (the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys-info dict with the byte
/// order, the object with storages as persistent ids <c>('storage', type, key, location, numel, None)</c>, the list of
/// storage keys), then each storage in that order as an int64 element count followed by its raw bytes.
/// </summary>
internal static class LegacyPth
{
    private static readonly BigInteger Magic = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);
    private const long ProtocolVersion = 1001;

    public static object? Load(MappedFile map, string full)
    {
        // The pickles are small and come first: parse them from a growing head of the file, the storages stay mapped.
        long window = Math.Min(map.Length, 1 << 20);
        while (true)
        {
            var head = map.Span(0, checked((int)window)).ToArray();
            try { return Parse(head, map, full); }
            catch (TorchPickle.TruncatedException) when (window < map.Length) { window = Math.Min(map.Length, window * 8); }
            catch (TorchPickle.TruncatedException e) { throw new InvalidDataException($"{full}: truncated legacy torch.save file ({e.Message})", e); }
        }
    }

    private static object? Parse(byte[] head, MappedFile map, string full)
    {
        int pos = 0;
        var magic = TorchPickle.LoadAt(head, ref pos, full);
        if (!(magic is BigInteger b && b == Magic))
            throw new InvalidDataException($"{full}: not a torch.save file (no zip archive, and the legacy magic number is missing)");
        if (TorchPickle.LoadAt(head, ref pos, full) is not long version || version != ProtocolVersion)
            throw new InvalidDataException($"{full}: legacy torch.save protocol version is not {ProtocolVersion}");
        if (TorchPickle.LoadAt(head, ref pos, full) is OrderedDictionary<object, object?> sys && sys.TryGetValue("little_endian", out var le) && le is false)
            throw new InvalidDataException($"{full}: written on a big-endian machine, which is not supported");
        var root = TorchPickle.LoadAt(head, ref pos, full);
        if (TorchPickle.LoadAt(head, ref pos, full) is not List<object?> keys || keys.Any(k => k is not string))
            throw new InvalidDataException($"{full}: the legacy storage key list is malformed");

        // Element sizes come from the storages' types in the pickle: walk the tensors to know them.
        var dtypes = new Dictionary<string, TorchStorageRef>(StringComparer.Ordinal);
        var tensors = new List<PickledTensor>();
        PthFile.Collect(root, tensors, full);                                  // iterative, cycle-safe, nesting bounded
        foreach (var t in tensors) dtypes.TryAdd(t.Storage.Key, t.Storage);
        var ranges = new Dictionary<string, (long offset, long size)>(StringComparer.Ordinal);
        long at = pos;
        foreach (string key in keys.Cast<string>())
        {
            if (at > map.Length - 8) throw new InvalidDataException($"{full}: truncated before storage '{key}'");
            long numel = BinaryPrimitives.ReadInt64LittleEndian(map.Span(at, 8));
            if (!dtypes.TryGetValue(key, out var s))
                throw new InvalidDataException($"{full}: storage '{key}' is not used by any tensor, so its element size is unknown");
            long size = checked(numel * s.Dtype.ElementSize());
            ranges[key] = (at + 8, size);
            at = checked(at + 8 + size);
        }
        return PthFile.Materialize(root, full, s => ranges.TryGetValue(s.Key, out var r) ? new PthFile.StorageRange(r.offset, r.size, $"storage '{s.Key}'")
            : throw new InvalidDataException($"{full}: storage '{s.Key}' is not in the file's storage list"), map);
    }
}
