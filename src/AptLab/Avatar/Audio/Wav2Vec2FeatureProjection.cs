using AptLab.Torch.nn;

namespace AptLab.Avatar.Audio;

/// <summary>
/// HF <c>Wav2Vec2FeatureProjection</c>: <c>LayerNorm(C)</c> on the conv features, then <c>Linear(C, hidden)</c>
/// (dropout is inactive at inference). Keys <c>layer_norm.*</c> [C] and <c>projection.*</c> [hidden, C].
/// </summary>
public sealed class Wav2Vec2FeatureProjection : Module
{
    public readonly LayerNorm layer_norm;
    public readonly Linear projection;

    public Wav2Vec2FeatureProjection(Wav2Vec2Config config)
    {
        int c = config.conv_dim[^1];
        layer_norm = RegisterModule("layer_norm", new LayerNorm([c], config.layer_norm_eps));
        projection = RegisterModule("projection", new Linear(c, config.hidden_size));
    }

    /// <summary>features: [B, T, C] -> (hidden_states [B, T, hidden], norm_features [B, T, C] = HF's <c>extract_features</c>).</summary>
    public (Tensor hidden_states, Tensor norm_features) forward(Tensor features)
    {
        var norm = layer_norm.forward(features);
        return (projection.forward(norm), norm);
    }
}
