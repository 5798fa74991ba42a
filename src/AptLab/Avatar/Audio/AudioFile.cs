using AptLab.Data.Media;

namespace AptLab.Avatar.Audio;

/// <summary>
/// Audio file decoding for the wav2vec2 front-end, over <see cref="AptLab.Data.Media"/>: any format ffmpeg reads,
/// decoded to mono (channel mean, as librosa) float32 at the requested rate. Without ffmpeg on PATH, WAV files already at
/// that rate are still read (<see cref="Wav"/>). Every failure is a <see cref="MediaException"/> naming the file.
/// </summary>
public static class AudioFile
{
    /// <summary>Decodes <paramref name="path"/> to mono float32 samples at <paramref name="sampleRate"/>.</summary>
    public static float[] ReadMono(string path, int sampleRate = 16000)
    {
        float[] samples;
        if (Ffmpeg.IsAvailable) samples = Ffmpeg.ReadAudio(path, sampleRate);
        else
        {
            if (!path.EndsWith(".wav", StringComparison.OrdinalIgnoreCase))
                throw new MediaException(path, "decoding this format needs ffmpeg (install the Debian package ffmpeg); only WAV is read without it");
            var clip = Wav.Read(path);
            if (clip.SampleRate != sampleRate)
                throw new MediaException(path, $"is {clip.SampleRate} Hz, expected {sampleRate} Hz; resampling needs ffmpeg (install the Debian package ffmpeg)");
            samples = clip.ToMono();
        }
        if (samples.Length == 0) throw new MediaException(path, "decoded to 0 audio samples");
        foreach (var v in samples)
            if (!float.IsFinite(v)) throw new MediaException(path, "decoded audio contains NaN or infinite samples");
        return samples;
    }
}
