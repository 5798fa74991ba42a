using System.Buffers.Binary;
using System.Text.Json;

namespace AptLab.Tests.Wan.Text;

/// <summary>
/// TEMPORARY: the smallest safetensors reader (F32 only) so the umT5 and sampler tests can read the reference
/// cases before <c>AptLab.Torch.IO.Safetensors</c> (branch <c>io</c>) lands. Replace every use with
/// <c>Checkpoint.Load</c> after merging <c>io</c>, then delete this file.
/// </summary>
internal static class TemporarySafetensors
{
    public static Dictionary<string, Tensor> Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var result = new Dictionary<string, Tensor>();
        foreach (var e in header.RootElement.EnumerateObject())
        {
            if (e.Name == "__metadata__") continue;
            var dtype = e.Value.GetProperty("dtype").GetString();
            if (dtype != "F32") throw new InvalidDataException($"{path}: {e.Name} is {dtype}; this temporary reader reads F32 only");
            var shape = e.Value.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var off = e.Value.GetProperty("data_offsets").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var span = bytes.AsSpan((int)(8 + n + off[0]), (int)(off[1] - off[0]));
            result[e.Name] = torch.from_bytes(span, ScalarType.Float32, shape).DetachFromScope();
        }
        return result;
    }
}
