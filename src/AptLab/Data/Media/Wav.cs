using System.Buffers.Binary;
using System.Text;

namespace AptLab.Data.Media;

public enum WavSampleFormat { Pcm16, Float32 }

/// <summary>Audio as interleaved float samples in -1..1: <c>Samples[frame * Channels + channel]</c>.</summary>
public sealed record AudioClip(int SampleRate, int Channels, float[] Samples)
{
    public int Frames => Samples.Length / Channels;
    public double DurationSeconds => (double)Frames / SampleRate;

    /// <summary>The average of all channels, one value per frame.</summary>
    public float[] ToMono()
    {
        if (Channels == 1) return Samples;
        var mono = new float[Frames];
        for (int f = 0; f < mono.Length; f++)
        {
            float s = 0;
            for (int c = 0; c < Channels; c++) s += Samples[f * Channels + c];
            mono[f] = s / Channels;
        }
        return mono;
    }
}

/// <summary>
/// RIFF/WAVE by hand: writes PCM16 (x * 32768 rounded and clipped, ffmpeg's convention; read back as s / 32768) or float32; reads PCM 8/16/24/32-bit and float 32/64, plain or
/// WAVE_FORMAT_EXTENSIBLE, skipping unknown chunks.
/// </summary>
public static class Wav
{
    public static byte[] Encode(ReadOnlySpan<float> interleaved, int sampleRate, int channels, WavSampleFormat format = WavSampleFormat.Pcm16)
    {
        if (sampleRate <= 0 || channels <= 0) throw new ArgumentException($"wav needs a positive sample rate and channel count, got {sampleRate} Hz x {channels}");
        if (interleaved.Length % channels != 0) throw new ArgumentException($"{interleaved.Length} samples do not split into {channels} channels");
        int bytesPer = format == WavSampleFormat.Pcm16 ? 2 : 4;
        int dataLen = interleaved.Length * bytesPer;
        var b = new byte[44 + dataLen];
        var s = b.AsSpan();
        Encoding.ASCII.GetBytes("RIFF").CopyTo(s);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], 36 + dataLen);
        Encoding.ASCII.GetBytes("WAVEfmt ").CopyTo(s[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], 16);
        BinaryPrimitives.WriteInt16LittleEndian(s[20..], (short)(format == WavSampleFormat.Pcm16 ? 1 : 3));
        BinaryPrimitives.WriteInt16LittleEndian(s[22..], (short)channels);
        BinaryPrimitives.WriteInt32LittleEndian(s[24..], sampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(s[28..], sampleRate * channels * bytesPer);   // byte rate
        BinaryPrimitives.WriteInt16LittleEndian(s[32..], (short)(channels * bytesPer));       // block align
        BinaryPrimitives.WriteInt16LittleEndian(s[34..], (short)(bytesPer * 8));
        Encoding.ASCII.GetBytes("data").CopyTo(s[36..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[40..], dataLen);
        var data = s[44..];
        for (int i = 0; i < interleaved.Length; i++)
        {
            if (format == WavSampleFormat.Pcm16)
                BinaryPrimitives.WriteInt16LittleEndian(data[(2 * i)..], (short)Math.Clamp(MathF.Round(interleaved[i] * 32768f), -32768f, 32767f));
            else
                BinaryPrimitives.WriteSingleLittleEndian(data[(4 * i)..], interleaved[i]);
        }
        return b;
    }

    public static void Write(string path, ReadOnlySpan<float> interleaved, int sampleRate, int channels, WavSampleFormat format = WavSampleFormat.Pcm16)
    {
        var bytes = Encode(interleaved, sampleRate, channels, format);
        Ffmpeg.WriteAtomically(path, bytes);
    }

    public static AudioClip Read(string path)
    {
        MediaException.CheckInputFile(path);
        return Decode(File.ReadAllBytes(path), path);
    }

    public static AudioClip Decode(ReadOnlySpan<byte> b, string source = "<wav bytes>")
    {
        if (b.Length < 12 || Encoding.ASCII.GetString(b[..4]) != "RIFF" || Encoding.ASCII.GetString(b[8..12]) != "WAVE")
            throw new MediaException(source, "not a WAV file (no RIFF/WAVE header)");
        int pos = 12, format = 0, channels = 0, rate = 0, bits = 0;
        while (pos + 8 <= b.Length)
        {
            string id = Encoding.ASCII.GetString(b.Slice(pos, 4));
            long len = BinaryPrimitives.ReadUInt32LittleEndian(b[(pos + 4)..]);
            int start = pos + 8;
            if (id == "fmt ")
            {
                if (len < 16 || start + 16 > b.Length) throw new MediaException(source, "WAV fmt chunk is truncated");
                format = BinaryPrimitives.ReadUInt16LittleEndian(b[start..]);
                channels = BinaryPrimitives.ReadUInt16LittleEndian(b[(start + 2)..]);
                rate = BinaryPrimitives.ReadInt32LittleEndian(b[(start + 4)..]);
                bits = BinaryPrimitives.ReadUInt16LittleEndian(b[(start + 14)..]);
                if (format == 0xFFFE && len >= 26) format = BinaryPrimitives.ReadUInt16LittleEndian(b[(start + 24)..]);  // sub-format GUID
            }
            else if (id == "data")
            {
                if (channels == 0) throw new MediaException(source, "WAV data chunk comes before its fmt chunk");
                int avail = (int)Math.Min(len, b.Length - start);       // streamed WAVs may carry a bogus length
                return new AudioClip(rate, channels, DecodeSamples(b.Slice(start, avail), format, bits, source));
            }
            pos = (int)Math.Min(b.Length, start + len + (len & 1));
        }
        throw new MediaException(source, "WAV file has no data chunk");
    }

    private static float[] DecodeSamples(ReadOnlySpan<byte> d, int format, int bits, string source)
    {
        int bytes = bits / 8;
        if (bytes == 0) throw new MediaException(source, $"WAV has {bits} bits per sample");
        var o = new float[d.Length / bytes];
        for (int i = 0; i < o.Length; i++)
        {
            var s = d[(i * bytes)..];
            o[i] = (format, bits) switch
            {
                (1, 8) => (s[0] - 128) / 128f,
                (1, 16) => BinaryPrimitives.ReadInt16LittleEndian(s) / 32768f,
                (1, 24) => ((s[2] << 24 | s[1] << 16 | s[0] << 8) >> 8) / 8388608f,
                (1, 32) => BinaryPrimitives.ReadInt32LittleEndian(s) / 2147483648f,
                (3, 32) => BinaryPrimitives.ReadSingleLittleEndian(s),
                (3, 64) => (float)BinaryPrimitives.ReadDoubleLittleEndian(s),
                _ => throw new MediaException(source, $"WAV sample format {format} with {bits} bits is not supported (PCM 8/16/24/32, float 32/64)"),
            };
        }
        return o;
    }
}
