using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>Float precision helpers for Wan's "float32 islands" (docs/wan-dit.md#precision): the time path, modulation,
/// norms, residual stream and head compute in float32 even when the big linears run in bfloat16. A float64
/// model (finite-difference tests) stays float64 everywhere.</summary>
internal static class WanPrecision
{
    /// <summary>The dtype of the float32 islands for a model whose parameters have <paramref name="param"/>.</summary>
    public static ScalarType Island(ScalarType param) => param == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary><paramref name="x"/> itself when it already has <paramref name="dtype"/>, else a converted copy.</summary>
    public static Tensor As(this Tensor x, ScalarType dtype) => x.dtype == dtype ? x : x.to(dtype);

    /// <summary>A linear layer applied to <paramref name="x"/> cast to the layer's dtype (autocast-style).</summary>
    /// <remarks>Goes through <see cref="Linear.forward"/>, so an attached adapter (LoRA) takes part.</remarks>
    public static Tensor Apply(this Linear layer, Tensor x) => layer.forward(x.As(layer.weight.dtype));
}
