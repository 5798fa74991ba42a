namespace AptLab.Data.Media;

public static partial class Ffmpeg
{
    /// <summary>wav2vec2's input rate.</summary>
    public const int SpeechSampleRate = 16000;

    /// <summary>
    /// Decodes the first audio stream of any file ffmpeg reads (wav, mp3, m4a, the audio of an mp4) to mono
    /// float32 at <paramref name="sampleRate"/> (channels averaged, resampled by ffmpeg). A WAV already at that rate is
    /// decoded in-process, sample for sample what ffmpeg gives (PCM as s / 2^(bits-1), the channels' mean), without the
    /// two processes (ffprobe, ffmpeg) per file that dominate reading many short clips.
    /// </summary>
    public static float[] ReadAudio(string path, int sampleRate = SpeechSampleRate, TimeSpan? timeout = null)
    {
        if (ReadWavAtRate(path, sampleRate) is { } wav) return wav;
        var info = Probe(path, timeout);
        var audio = info.Audio ?? throw new MediaException(path, "has no audio stream");
        // Keep the channels and average them here: ffmpeg's own "-ac 1" mixes stereo as (L + R) / sqrt(2),
        // not as the mean that librosa-style loaders (and wav2vec2 recipes) use.
        int channels = Math.Max(1, audio.Channels);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("f32le decoding assumes a little-endian host");
        // mixed down while reading (a long clip is held once, as mono floats): the mean of each frame's channels as
        // AudioClip.ToMono computes it; a torn last frame is dropped. The array is sized by the probed duration, exact
        // for PCM, so it is returned without the trimming copy (which would hold the clip twice); a stream longer than
        // its duration says grows it, one shorter is trimmed.
        double? seconds = audio.DurationSeconds ?? info.DurationSeconds;
        var mono = new float[seconds is > 0 and < 1e6 ? (int)Math.Min(int.MaxValue / 2, Math.Round(seconds.Value * sampleRate)) : 1 << 16];
        int count = 0;
        RunFfmpeg(["-i", path, "-map", "0:a:0", "-ac", channels.ToString(), "-ar", sampleRate.ToString(), "-f", "f32le", "-"], path,
            readStdout: stream =>
            {
                int frameBytes = 4 * channels, have = 0;
                var buffer = new byte[frameBytes * 8192];
                int got;
                while ((got = stream.Read(buffer, have, buffer.Length - have)) > 0)
                {
                    have += got;
                    int frames = have / frameBytes;
                    if (count + frames > mono.Length) Array.Resize(ref mono, Math.Max(mono.Length + Math.Max(mono.Length / 8, sampleRate), count + frames));
                    var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(buffer.AsSpan(0, frames * frameBytes));
                    for (int f = 0; f < frames; f++)
                    {
                        float sum = 0;
                        for (int c = 0; c < channels; c++) sum += values[f * channels + c];
                        mono[count++] = channels == 1 ? sum : sum / channels;
                    }
                    buffer.AsSpan(frames * frameBytes, have - frames * frameBytes).CopyTo(buffer);
                    have -= frames * frameBytes;
                }
            }, timeout: timeout);
        if (count != mono.Length) Array.Resize(ref mono, count);
        return mono;
    }

    /// <summary>
    /// Encodes interleaved float samples with ffmpeg, the container and codec chosen by the extension
    /// (.wav gives PCM16, .m4a AAC, .mp3 MP3, .flac FLAC).
    /// </summary>
    public static void WriteAudio(string path, ReadOnlySpan<float> interleaved, int sampleRate, int channels = 1, TimeSpan? timeout = null)
    {
        if (interleaved.Length == 0 || interleaved.Length % channels != 0)
            throw new ArgumentException($"{path}: {interleaved.Length} samples do not make whole frames of {channels} channels");
        var bytes = new byte[interleaved.Length * 4];
        Buffer.BlockCopy(interleaved.ToArray(), 0, bytes, 0, bytes.Length);
        RunFfmpegTo(path, tmp => ["-f", "f32le", "-ar", sampleRate.ToString(), "-ac", channels.ToString(), "-i", "-", tmp],
                    writeStdin: s => s.Write(bytes), timeout: timeout);
    }

    /// <summary>The mono samples of a WAV file at <paramref name="sampleRate"/> with at least one frame, else null (then
    /// ffmpeg decides, and names any problem).</summary>
    private static float[]? ReadWavAtRate(string path, int sampleRate)
    {
        if (!path.EndsWith(".wav", StringComparison.OrdinalIgnoreCase) || !File.Exists(path)) return null;
        try
        {
            var clip = Wav.Read(path);
            return clip.SampleRate == sampleRate && clip.Channels > 0 && clip.Frames > 0 ? clip.ToMono() : null;
        }
        catch (MediaException) { return null; }
    }
}
