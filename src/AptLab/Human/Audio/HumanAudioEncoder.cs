using AptLab.Avatar.Audio;

namespace AptLab.Human.Audio;

/// <summary>
/// OmniHuman's audio features (docs/omnihuman.md#audio): wav2vec2 at 16 kHz on the whole track, its
/// num_hidden_layers + 1 hidden states (the transformer's input, then every layer's output: 13 x 768 for
/// wav2vec2-base) concatenated per 50 Hz step, then linearly interpolated along time (align_corners, as
/// <see cref="OmniAvatarAudioEncoder.linear_interpolation"/>) to one row per video frame:
/// <code>
/// samples [N] -> zero-mean unit-variance -> wav2vec2 -> [T50, (L + 1) hidden] -> [frames, (L + 1) hidden]
/// </code>
/// frames = ⌈N / sample_rate · fps⌉ unless given. The model (not owned) runs without gradients.
/// </summary>
public sealed class HumanAudioEncoder(Wav2Vec2Model model, int sampleRate = 16000, int fps = 25)
{
    public Wav2Vec2Model Model { get; } = model;
    public int SampleRate { get; } = sampleRate;
    public int Fps { get; } = fps;

    /// <summary>Width of a feature row: (num_hidden_layers + 1) · hidden_size.</summary>
    public int Dim => FeatureWidth(Model.config);

    public static int FeatureWidth(Wav2Vec2Config c) => (c.num_hidden_layers + 1) * c.hidden_size;

    /// <summary>Video frames <paramref name="samples"/> audio samples cover: ⌈samples / sample_rate · fps⌉.</summary>
    public int FramesOf(long samples) => (int)Math.Ceiling(samples / (double)SampleRate * Fps);

    /// <summary>Features [frames, (L + 1) hidden] (float32) of mono samples at <see cref="SampleRate"/>.</summary>
    public Tensor Encode(ReadOnlySpan<float> samples, int? frames = null)
    {
        if (samples.Length == 0) throw new ArgumentException("the audio has no samples");
        int n = frames ?? FramesOf(samples.Length);
        if (n < 1) throw new ArgumentException($"the audio must cover at least one video frame, got {n}");
        // wav2vec2's conv stack needs at least one 400-sample receptive field
        var input = samples.Length >= 400 ? samples.ToArray() : [.. samples, .. new float[400 - samples.Length]];
        var normed = Wav2Vec2Preprocessor.zero_mean_unit_var_norm(input);
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        using var output = Model.forward(torch.tensor(normed, 1, normed.Length));
        var stacked = torch.cat(output.hidden_states.ToArray(), -1);                       // [1, T50, (L + 1) hidden]
        var perFrame = OmniAvatarAudioEncoder.linear_interpolation(stacked, n);            // [1, frames, (L + 1) hidden]
        return scope.Keep(perFrame.squeeze(0).to(ScalarType.Float32).contiguous());
    }
}
