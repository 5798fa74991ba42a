namespace AptLab.Torch.IO;

/// <summary>The safetensors dtype names (safetensors <c>tensor.rs</c>): their bit sizes, for validating any file, and
/// the subset this engine can materialise as tensors.</summary>
public static class SafetensorsDtype
{
    private static readonly Dictionary<string, int> Bits = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 8, ["U8"] = 8, ["I8"] = 8, ["F8_E5M2"] = 8, ["F8_E4M3"] = 8, ["F8_E4M3FNUZ"] = 8,
        ["F8_E5M2FNUZ"] = 8, ["F8_E8M0"] = 8, ["F4"] = 4, ["F6_E2M3"] = 6, ["F6_E3M2"] = 6,
        ["I16"] = 16, ["U16"] = 16, ["F16"] = 16, ["BF16"] = 16,
        ["I32"] = 32, ["U32"] = 32, ["F32"] = 32, ["C64"] = 64,
        ["F64"] = 64, ["I64"] = 64, ["U64"] = 64,
    };

    private static readonly (string name, ScalarType type)[] Supported =
    [
        ("F64", ScalarType.Float64), ("F32", ScalarType.Float32), ("F16", ScalarType.Float16),
        ("BF16", ScalarType.BFloat16), ("I64", ScalarType.Int64), ("I32", ScalarType.Int32),
        ("I16", ScalarType.Int16), ("I8", ScalarType.Int8), ("U8", ScalarType.UInt8), ("BOOL", ScalarType.Bool),
    ];

    /// <summary>Names this engine loads: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.</summary>
    public static IEnumerable<string> SupportedNames => Supported.Select(s => s.name);

    /// <summary>Bits per element of a dtype named in the format, or null for an unknown name.</summary>
    public static int? BitsOf(string name) => Bits.TryGetValue(name, out var b) ? b : null;

    public static bool TryToScalarType(string name, out ScalarType type)
    {
        foreach (var (n, t) in Supported)
            if (n == name) { type = t; return true; }
        type = default;
        return false;
    }

    public static string FromScalarType(ScalarType type)
    {
        foreach (var (n, t) in Supported)
            if (t == type) return n;
        throw new NotSupportedException($"safetensors: cannot store dtype {type.TorchName()} (supported: {string.Join(" ", SupportedNames)})");
    }

    /// <summary>Alignment used to order tensors when writing: the element size in bytes.</summary>
    public static int Alignment(string name) => Math.Max(1, (BitsOf(name) ?? 8) / 8);
}
