namespace AptLab.Avatar.Audio;

/// <summary>
/// Hugging Face's <c>Wav2Vec2FeatureExtractor</c> (the audio preprocessor of <c>preprocessor_config.json</c>, not the
/// conv stack) for one un-padded utterance with <c>do_normalize = true</c>: zero mean, unit variance over the whole
/// utterance, <c>x' = (x − mean) / √(var + 1e-7)</c> with the population variance (transformers ≥ 4.x; very old
/// versions used 1e-5).
/// </summary>
public static class Wav2Vec2Preprocessor
{
    /// <summary>The variance floor of transformers' <c>zero_mean_unit_var_norm</c>.</summary>
    public const double Eps = 1e-7;

    /// <summary>
    /// Normalises <paramref name="samples"/> (mono, float). The mean and variance are accumulated in float64 (two
    /// passes) and each output rounded once to float32; transformers does the same in float32 numpy, which differs by
    /// float32 rounding only (measured 4.7e-8 relative on the reference case).
    /// </summary>
    public static float[] zero_mean_unit_var_norm(ReadOnlySpan<float> samples, double eps = Eps)
    {
        var result = samples.ToArray();
        normalize_(result, eps);
        return result;
    }

    /// <summary><see cref="zero_mean_unit_var_norm"/> in place (no copy of a long clip).</summary>
    public static void normalize_(Span<float> samples, double eps = Eps)
    {
        if (samples.Length == 0) throw new ArgumentException("cannot normalise an empty waveform (0 samples)");
        var (mean, inv) = Moments(0, samples, eps);
        for (int i = 0; i < samples.Length; i++) samples[i] = (float)((samples[i] - mean) * inv);
    }

    /// <summary>
    /// The normalisation of <paramref name="leadingZeros"/> zeros followed by <paramref name="samples"/>, without
    /// building that waveform: its mean and <c>1 / √(var + eps)</c>, accumulated in float64 in sample order (zeros
    /// first), so a value normalises to <c>(float)((v − mean) · inv)</c> exactly as <see cref="normalize_"/> gives it.
    /// </summary>
    public static (double mean, double inv) Moments(int leadingZeros, ReadOnlySpan<float> samples, double eps = Eps)
    {
        if (leadingZeros < 0) throw new ArgumentException($"leading zeros must be non-negative, got {leadingZeros}");
        long n = (long)leadingZeros + samples.Length;
        if (n == 0) throw new ArgumentException("cannot normalise an empty waveform (0 samples)");
        if (!(eps >= 0)) throw new ArgumentException($"eps must be non-negative, got {eps}");
        double sum = 0;                                  // the zeros add nothing
        foreach (var v in samples)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("the waveform contains NaN or infinite samples");
            sum += v;
        }
        double mean = sum / n, ss = 0;
        for (int i = 0; i < leadingZeros; i++) ss += (0f - mean) * (0f - mean);
        foreach (var v in samples) ss += (v - mean) * (v - mean);
        return (mean, 1 / Math.Sqrt(ss / n + eps));
    }
}
