namespace AptLab.Avatar.Audio;

/// <summary>
/// The audio settings of OmniAvatar's <c>scripts/inference.py</c> (names from its args).
/// </summary>
/// <param name="sample_rate">decoding rate and wav2vec2's input rate (16000)</param>
/// <param name="fps">video frame rate (25): one audio embedding per video frame, <c>sample_rate / fps</c> = 640 samples</param>
/// <param name="silence_duration_s">digital silence prepended to the audio before anything else (0.3 s; inference.py
/// writes it in front of the file with ffmpeg). 0 switches it off.</param>
/// <param name="norm_eps">variance floor of the preprocessor's normalisation (1e-7)</param>
/// <param name="window_frames">long clips are encoded this many video frames at a time (docs/omniavatar.md#long-audio;
/// 500 = 20 s at 25 fps); a clip of at most <c>window_frames + 2 · context_frames</c> frames is encoded in one pass, as
/// OmniAvatar does</param>
/// <param name="context_frames">frames of audio seen on each side of a window by the transformer (250 = 10 s)</param>
public sealed record OmniAvatarAudioOptions(int sample_rate = 16000, int fps = 25, double silence_duration_s = 0.3,
                                            double norm_eps = Wav2Vec2Preprocessor.Eps, int window_frames = 500,
                                            int context_frames = 250)
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
        if (window_frames < 1) throw new ArgumentException($"OmniAvatarAudioOptions.window_frames must be at least 1, got {window_frames}");
        if (context_frames < 0) throw new ArgumentException($"OmniAvatarAudioOptions.context_frames must be non-negative, got {context_frames}");
        return this;
    }
}
