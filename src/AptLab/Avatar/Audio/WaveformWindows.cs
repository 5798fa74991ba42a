namespace AptLab.Avatar.Audio;

/// <summary>
/// A waveform [B, N] that the windowed conv stack (<see cref="Wav2Vec2FeatureEncoder.forward_windowed{TWave}"/>) reads
/// one slice at a time, so a long clip need not exist as one tensor (docs/omniavatar.md#long-audio).
/// </summary>
public interface IWaveformWindows
{
    /// <summary>N: samples per row.</summary>
    long Length { get; }

    /// <summary>Samples [start, start + count) of every row: a new tensor [B, count] (the caller disposes it).</summary>
    Tensor Slice(long start, long count);
}

/// <summary>A waveform already held as a tensor [B, N]: slices are views (<c>narrow</c>).</summary>
public readonly struct TensorWaveform(Tensor input_values) : IWaveformWindows
{
    public long Length => input_values.size(1);
    public Tensor Slice(long start, long count) => input_values.narrow(1, start, count);
}

/// <summary>
/// The input of OmniAvatar's wav2vec2 (<see cref="OmniAvatarAudioEncoder.Prepare"/>) without building it: 
/// <c>silence</c> zeros, then the samples, normalised together (<see cref="Wav2Vec2Preprocessor.normalize_"/>: the same
/// float64 statistics, the same float32 rounding of each value), then zeros up to <see cref="Length"/>. Each slice is
/// computed from the caller's samples into one reused buffer, so a long clip is held once, as the decoded samples,
/// instead of three times (samples, normalised copy, tensor). A slice equals the same range of
/// <see cref="OmniAvatarAudioEncoder.Prepare"/>'s array bit for bit. One row (B = 1).
/// </summary>
public ref struct NormalizedWaveform : IWaveformWindows
{
    private readonly ReadOnlySpan<float> samples;
    private readonly int silence;
    private readonly double mean, inv;
    private readonly float silent;
    private float[] buffer = [];

    /// <param name="samples">the clip, before the silence</param>
    /// <param name="silence">zeros in front of the clip, normalised with it</param>
    /// <param name="length">the total length, at least silence + samples; the rest is exact zeros (not normalised)</param>
    /// <param name="eps">the variance floor</param>
    public NormalizedWaveform(ReadOnlySpan<float> samples, int silence, long length, double eps = Wav2Vec2Preprocessor.Eps)
    {
        if (silence < 0) throw new ArgumentException($"silence must be non-negative, got {silence}");
        if (length < (long)silence + samples.Length)
            throw new ArgumentException($"length {length} is shorter than the silence and the clip ({silence} + {samples.Length} samples)");
        this.samples = samples;
        this.silence = silence;
        Length = length;
        (mean, inv) = Wav2Vec2Preprocessor.Moments(silence, samples, eps);
        silent = (float)((0f - mean) * inv);
    }

    public long Length { get; }

    public Tensor Slice(long start, long count)
    {
        if (start < 0 || count < 1 || start + count > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + count}) is outside the waveform's {Length} samples");
        if (buffer.Length < count) buffer = new float[count];
        var dst = buffer.AsSpan(0, (int)count);
        long end = start + count, clipEnd = (long)silence + samples.Length;
        for (long p = start; p < end; p++)
            dst[(int)(p - start)] = p < silence ? silent : p < clipEnd ? (float)((samples[(int)(p - silence)] - mean) * inv) : 0f;
        return torch.tensor<float>(dst, [1, count]);
    }
}
