namespace AptLab.Training;

/// <summary>
/// The precision policy every trainer follows (config key <c>precision</c>; docs/precision-and-parallelism.md):
/// <list type="bullet">
/// <item><c>fp32</c>: everything in float32 (a float64 model stays float64: the tests' exact mode).</item>
/// <item><c>bf16-mixed</c>: float32 master weights, float32 gradients as accumulated (each micro-batch's bf16
/// gradients are added in float32), float32 optimizer state and EMA; bf16 compute copies for forward and backward,
/// the models' own float32 islands (time embedding, modulation, norms, RoPE) unchanged. The paper's "BF16 mixed
/// precision".</item>
/// <item><c>bf16</c>: everything in bf16, masters included (small updates round away: a baseline, not a
/// recipe).</item>
/// </list>
/// </summary>
public enum Precision { Fp32, Bf16Mixed, Bf16 }

public static class PrecisionPolicy
{
    /// <summary>The config spelling: fp32 | bf16-mixed | bf16.</summary>
    public static string ToConfigString(this Precision p) => p switch
    {
        Precision.Fp32 => "fp32",
        Precision.Bf16Mixed => "bf16-mixed",
        Precision.Bf16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(p), p, null),
    };

    /// <summary>Parses fp32 | bf16-mixed | bf16; an error names the key (and the file when given).</summary>
    public static Precision Parse(string value, string key = "precision", string? file = null) =>
        value.Trim().ToLowerInvariant() switch
        {
            "fp32" or "float32" => Precision.Fp32,
            "bf16-mixed" or "bf16_mixed" => Precision.Bf16Mixed,
            "bf16" or "bfloat16" => Precision.Bf16,
            _ => throw new ArgumentException($"{(file is null ? "" : file + ": ")}{key} must be fp32, bf16-mixed or bf16, got '{value}'"),
        };

    /// <summary>The dtype of the masters, of the gradients as accumulated, of the optimizer state and of the EMA
    /// for a model built in <paramref name="modelDtype"/>.</summary>
    public static ScalarType MasterDtype(this Precision p, ScalarType modelDtype) => p switch
    {
        Precision.Bf16 => ScalarType.BFloat16,
        _ => modelDtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32,
    };

    /// <summary>The dtype of the compute copies (what forward and backward run in).</summary>
    public static ScalarType ComputeDtype(this Precision p, ScalarType modelDtype) => p switch
    {
        Precision.Fp32 => p.MasterDtype(modelDtype),
        _ => ScalarType.BFloat16,
    };
}
