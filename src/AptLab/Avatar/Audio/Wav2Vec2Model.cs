using AptLab.Torch.nn;

namespace AptLab.Avatar.Audio;

/// <summary>What <see cref="Wav2Vec2Model"/> returns (HF's <c>Wav2Vec2BaseModelOutput</c> with
/// <c>output_hidden_states=True</c>). Disposing it frees every tensor.</summary>
/// <param name="extract_features">[B, T, C]: the LayerNorm'd conv features (HF's <c>extract_features</c>)</param>
/// <param name="hidden_states">num_hidden_layers + 1 tensors [B, T, hidden]: the input of layer 0 (after the
/// positional conv and the encoder LayerNorm), then each layer's output</param>
public sealed record Wav2Vec2Output(Tensor extract_features, IReadOnlyList<Tensor> hidden_states) : IDisposable
{
    /// <summary>[B, T, hidden]: the last layer's output, the same tensor as <c>hidden_states[^1]</c>.</summary>
    public Tensor last_hidden_state => hidden_states[^1];

    public void Dispose()
    {
        extract_features.Dispose();
        foreach (var h in hidden_states) h.Dispose();
    }
}

/// <summary>
/// Hugging Face <c>Wav2Vec2Model</c> (facebook/wav2vec2-base-960h layout, see <see cref="Wav2Vec2Config"/>), the
/// audio encoder of OmniAvatar. Sub-modules and state-dict keys are HF's: <c>masked_spec_embed</c> (only when
/// <c>mask_time_prob &gt; 0</c>; SpecAugment, unused at inference), <c>feature_extractor.*</c> (conv stack),
/// <c>feature_projection.*</c>, <c>encoder.*</c>. Inference semantics (eval mode): dropouts and SpecAugment are off;
/// no attention mask (wav2vec2-base is meant to get none).
/// </summary>
public sealed partial class Wav2Vec2Model : Module
{
    public readonly Wav2Vec2Config config;
    public readonly Parameter? masked_spec_embed;
    public readonly Wav2Vec2FeatureEncoder feature_extractor;
    public readonly Wav2Vec2FeatureProjection feature_projection;
    public readonly Wav2Vec2Encoder encoder;

    public Wav2Vec2Model(Wav2Vec2Config config)
    {
        this.config = config.Validate();
        if (config.mask_time_prob > 0)
        {
            masked_spec_embed = RegisterParameter("masked_spec_embed", torch.empty(config.hidden_size));
            init.uniform_(masked_spec_embed);
        }
        feature_extractor = RegisterModule("feature_extractor", new Wav2Vec2FeatureEncoder(config));
        feature_projection = RegisterModule("feature_projection", new Wav2Vec2FeatureProjection(config));
        encoder = RegisterModule("encoder", new Wav2Vec2Encoder(config));
    }

    /// <summary>The conv stack on a waveform: input_values [B, N] -> conv features [B, Tf, C] (time-major, before the
    /// feature projection's LayerNorm). Tf = <see cref="Wav2Vec2Config.ConvFrames"/>(N).</summary>
    public Tensor extract_conv_features(Tensor input_values)
    {
        using var scope = torch.NewScope();
        var x = input_values.to(feature_projection.projection.weight);      // the weights' device and dtype
        return scope.Keep(feature_extractor.forward(x).transpose(1, 2).contiguous());
    }

    /// <summary>Everything after the conv stack: conv features [B, T, C] -> feature projection -> encoder. OmniAvatar
    /// calls this on conv features resampled to the video frame rate.</summary>
    public Wav2Vec2Output forward_conv_features(Tensor conv_features)
    {
        if (conv_features.dim() != 3 || conv_features.size(2) != config.conv_dim[^1])
            throw new ArgumentException($"wav2vec2 conv features must be [B, T, {config.conv_dim[^1]}], got [{string.Join(", ", conv_features.shape)}]");
        using var scope = torch.NewScope();
        var (hidden, norm) = feature_projection.forward(conv_features);  // [B, T, hidden], [B, T, C]
        var states = encoder.forward(hidden);                             // (layers + 1) × [B, T, hidden]
        scope.Keep(norm);
        foreach (var s in states) scope.Keep(s);
        return new Wav2Vec2Output(norm, states);
    }

    /// <summary>HF's forward: input_values [B, N] (normalised waveform, 16 kHz) -> features at 50 Hz.</summary>
    public Wav2Vec2Output forward(Tensor input_values)
    {
        using var conv = extract_conv_features(input_values);
        return forward_conv_features(conv);
    }

    /// <summary>The dtype of the weights (inputs are cast to it).</summary>
    public ScalarType Dtype => feature_projection.projection.weight.dtype;
}
