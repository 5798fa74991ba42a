using System.Text.Json;

namespace AptLab.Tests.Wan;

/// <summary>
/// TEMPORARY: the smallest safetensors reader the Wan DiT tests need (F32/F64 only), until
/// AptLab.Torch.IO.Safetensors lands from the `io` branch. Replace its uses by Checkpoint.Load then.
/// </summary>
internal static class TempSafetensors
{
    public static Dictionary<string, Tensor> Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var result = new Dictionary<string, Tensor>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var dtype = p.Value.GetProperty("dtype").GetString() switch
            {
                "F32" => ScalarType.Float32,
                "F64" => ScalarType.Float64,
                var d => throw new NotSupportedException($"{path}: {p.Name} has dtype {d}"),
            };
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var t = torch.from_bytes(bytes.AsSpan((int)(8 + n + off[0]), (int)(off[1] - off[0])), dtype, shape);
            result[p.Name] = t.DetachFromScope();
        }
        return result;
    }
}
