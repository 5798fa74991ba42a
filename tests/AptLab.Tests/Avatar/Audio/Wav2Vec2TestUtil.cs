using AptLab.Avatar.Audio;
using AptLab.Torch.IO;

namespace AptLab.Tests.Avatar.Audio;

internal static class Wav2Vec2TestUtil
{
    public const double Tol = 1e-4;

    public static string WeightsPath => TestPaths.ReferenceFile("wav2vec2.weights.safetensors");

    /// <summary>The case's JSON (hf_config, omniavatar_pipeline, weights).</summary>
    public static System.Text.Json.JsonElement CaseJson()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile("wav2vec2.json")));
        return doc.RootElement.Clone();
    }

    /// <summary>The case's model config: its HF config.json. The case ran torchaudio's modules, which have no
    /// SpecAugment embedding, while an HF config without <c>mask_time_prob</c> means HF's default (0.05, so a
    /// <c>masked_spec_embed</c>); whether the model has one is therefore read from the case's weights.</summary>
    public static Wav2Vec2Config CaseConfig
    {
        get
        {
            var c = Wav2Vec2Config.FromHfConfigJson(CaseJson().GetProperty("hf_config").GetRawText(), "wav2vec2.json");
            return Checkpoint.ReadShapes(WeightsPath).ContainsKey("masked_spec_embed") ? c : c with { mask_time_prob = 0 };
        }
    }

    /// <summary>The reference model, loaded from the case's HF-named weights with the case's config, in eval mode.</summary>
    public static Wav2Vec2Model LoadReferenceModel() => Wav2Vec2Model.FromCheckpoint(WeightsPath, CaseConfig);

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
