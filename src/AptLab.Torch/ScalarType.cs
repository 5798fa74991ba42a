namespace AptLab.Torch;

/// <summary>Element types, numbered as c10::ScalarType.</summary>
public enum ScalarType
{
    UInt8 = 0, Int8 = 1, Int16 = 2, Int32 = 3, Int64 = 4, Float16 = 5, Float32 = 6, Float64 = 7,
    ComplexFloat32 = 9, ComplexFloat64 = 10, Bool = 11, BFloat16 = 15,
}

/// <summary>Device kinds, numbered as c10::DeviceType.</summary>
public enum DeviceType { CPU = 0, CUDA = 1, Meta = 14 }

/// <summary>A device such as <c>cpu</c>, <c>cuda:0</c> or <c>meta</c>.</summary>
public readonly record struct Device(DeviceType Type, int Index = -1)
{
    public static readonly Device CPU = new(DeviceType.CPU);
    public static readonly Device Meta = new(DeviceType.Meta);
    public static Device CUDA(int index = 0) => new(DeviceType.CUDA, index);

    /// <summary>Parses "cpu", "cuda", "cuda:1" or "meta".</summary>
    public static Device Parse(string s)
    {
        var parts = s.Trim().ToLowerInvariant().Split(':');
        var type = parts[0] switch
        {
            "cpu" => DeviceType.CPU,
            "cuda" => DeviceType.CUDA,
            "meta" => DeviceType.Meta,
            _ => throw new ArgumentException($"unknown device '{s}' (expected cpu, cuda[:N] or meta)"),
        };
        return new Device(type, parts.Length > 1 ? int.Parse(parts[1]) : (type == DeviceType.CUDA ? 0 : -1));
    }

    public override string ToString() =>
        Type switch { DeviceType.CPU => "cpu", DeviceType.Meta => "meta", _ => Index >= 0 ? $"cuda:{Index}" : "cuda" };
}

public static class ScalarTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this ScalarType t) => t switch
    {
        ScalarType.UInt8 or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool IsFloatingPoint(this ScalarType t) =>
        t is ScalarType.Float16 or ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16;

    /// <summary>PyTorch's name for the dtype (torch.float32 ...).</summary>
    public static string TorchName(this ScalarType t) => t switch
    {
        ScalarType.UInt8 => "uint8", ScalarType.Int8 => "int8", ScalarType.Int16 => "int16",
        ScalarType.Int32 => "int32", ScalarType.Int64 => "int64", ScalarType.Float16 => "float16",
        ScalarType.Float32 => "float32", ScalarType.Float64 => "float64", ScalarType.BFloat16 => "bfloat16",
        ScalarType.Bool => "bool", ScalarType.ComplexFloat32 => "complex64", ScalarType.ComplexFloat64 => "complex128",
        _ => t.ToString(),
    };

    /// <summary>Parses a PyTorch dtype name ("float32", "bf16", "torch.bfloat16" ...).</summary>
    public static ScalarType ParseDtype(string s) => s.Trim().ToLowerInvariant().Replace("torch.", "") switch
    {
        "float32" or "float" or "fp32" or "f32" => ScalarType.Float32,
        "float64" or "double" or "fp64" or "f64" => ScalarType.Float64,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "half" or "fp16" or "f16" => ScalarType.Float16,
        "int64" or "long" => ScalarType.Int64,
        "int32" or "int" => ScalarType.Int32,
        "uint8" => ScalarType.UInt8,
        "bool" => ScalarType.Bool,
        _ => throw new ArgumentException($"unknown dtype '{s}'"),
    };
}
