using AptLab.Avatar.Audio;
using AptLab.Torch.IO;

namespace AptLab.Tests.Avatar.Audio;

internal static class Wav2Vec2TestUtil
{
    public const double Tol = 1e-4;

    public static string WeightsPath => TestPaths.ReferenceFile("wav2vec2.weights.safetensors");

    /// <summary>The reference tiny model, loaded from the case's HF-named weights, in eval mode.</summary>
    public static Wav2Vec2Model LoadReferenceModel() => Wav2Vec2Model.FromCheckpoint(WeightsPath, Wav2Vec2Config.Tiny);

    public static StateDict LoadIo() => Checkpoint.Load(TestPaths.ReferenceFile("wav2vec2.io.safetensors"));

    /// <summary>||actual − expected|| / ||expected|| in float64 over the full tensors (shapes must match).</summary>
    public static double RelErr(Tensor actual, Tensor expected) => TensorAssert.RelativeError(expected, actual);

    /// <summary>Same shape and bit-identical float32 values.</summary>
    public static bool BitEqual(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var ca = a.to(ScalarType.Float32).contiguous();
        using var cb = b.to(ScalarType.Float32).contiguous();
        return ca.data<float>().AsSpan().SequenceEqual(cb.data<float>());
    }
}
