namespace AptLab.Avatar.Audio;

/// <summary>
/// The audio settings of OmniAvatar's <c>scripts/inference.py</c> (names from its args).
/// </summary>
/// <param name="sample_rate">decoding rate and wav2vec2's input rate (16000)</param>
/// <param name="fps">video frame rate (25): one audio embedding per video frame, <c>sample_rate / fps</c> = 640 samples</param>
/// <param name="silence_duration_s">digital silence prepended to the audio before anything else (0.3 s; inference.py
/// writes it in front of the file with ffmpeg). 0 switches it off.</param>
/// <param name="norm_eps">variance floor of the preprocessor's normalisation (1e-7)</param>
public sealed record OmniAvatarAudioOptions(int sample_rate = 16000, int fps = 25, double silence_duration_s = 0.3,
                                            double norm_eps = Wav2Vec2Preprocessor.Eps)
{
    /// <summary>inference.py's defaults.</summary>
    public static OmniAvatarAudioOptions Default => new();

    /// <summary>Waveform samples per video frame, <c>int(sample_rate / fps)</c> (640).</summary>
    public int SamplesPerFrame => (int)((double)sample_rate / fps);

    /// <summary>Samples of prepended silence, round(silence_duration_s · sample_rate) (4800).</summary>
    public int SilenceSamples => (int)Math.Round(silence_duration_s * sample_rate);

    /// <summary>OmniAvatar's <c>audio_len = ceil(num_samples / sample_rate * fps)</c>, evaluated in float64 in that order.</summary>
    public int VideoFrames(long numSamples) => (int)Math.Ceiling(numSamples / (double)sample_rate * fps);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid value.</summary>
    public OmniAvatarAudioOptions Validate()
    {
        if (sample_rate <= 0) throw new ArgumentException($"OmniAvatarAudioOptions.sample_rate must be positive, got {sample_rate}");
        if (fps <= 0 || fps > sample_rate) throw new ArgumentException($"OmniAvatarAudioOptions.fps must be in [1, sample_rate], got {fps}");
        if (!(silence_duration_s >= 0) || double.IsInfinity(silence_duration_s))
            throw new ArgumentException($"OmniAvatarAudioOptions.silence_duration_s must be a non-negative number, got {silence_duration_s}");
        if (!(norm_eps >= 0)) throw new ArgumentException($"OmniAvatarAudioOptions.norm_eps must be non-negative, got {norm_eps}");
        return this;
    }
}
