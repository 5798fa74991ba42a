using System.Buffers.Binary;
using System.Text.Json;

namespace AptLab.Tests.Wan.Vae;

/// <summary>
/// TEMPORARY: the smallest F32-only safetensors reader, for the VAE tests until branch <c>io</c> lands
/// <c>AptLab.Torch.IO.Safetensors</c>; then replace every use and delete this file.
/// </summary>
internal static class TempSafetensorsReader
{
    /// <summary>The tensor names in header order, without reading the data.</summary>
    public static List<string> ReadHeaderKeys(string path)
    {
        using var f = File.OpenRead(path);
        var lenBytes = new byte[8];
        f.ReadExactly(lenBytes);
        var header = new byte[BinaryPrimitives.ReadInt64LittleEndian(lenBytes)];
        f.ReadExactly(header);
        using var doc = JsonDocument.Parse(header);
        return doc.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "__metadata__").ToList();
    }

    /// <summary>Tensors in header order (the order of the writer's state dict).</summary>
    public static List<(string name, Tensor tensor)> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long headerLen = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLen));
        var result = new List<(string, Tensor)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var dtype = p.Value.GetProperty("dtype").GetString();
            if (dtype != "F32") throw new NotSupportedException($"{path}: {p.Name} is {dtype}; this temporary reader reads F32 only");
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offs = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var data = bytes.AsSpan((int)(8 + headerLen + offs[0]), (int)(offs[1] - offs[0]));
            result.Add((p.Name, torch.from_bytes(data, ScalarType.Float32, shape).DetachFromScope()));
        }
        return result;
    }
}
