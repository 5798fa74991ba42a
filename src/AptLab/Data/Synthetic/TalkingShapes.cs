using AptLab.Data.Media;

namespace AptLab.Data.Synthetic;

/// <summary>
/// A synthetic talking-clip dataset for OmniAvatar fine-tuning: <see cref="MovingShapes"/> clips written as mp4 with a
/// tone whose pitch follows the shape (frequency 220 Hz + 440 Hz · x/size + 220 Hz · y/size of the shape's centroid,
/// interpolated between frames, phase-continuous) as a 16 kHz wav, and a CSV manifest
/// (<c>video,audio,caption,image</c>); every second clip names its first frame (a PNG) as the reference image, the
/// others leave it to the first video frame. Deterministic in (size, frames, seed).
/// </summary>
public static class TalkingShapes
{
    public const string ManifestName = "manifest.csv";

    /// <summary>Writes <paramref name="count"/> clips into <paramref name="directory"/> unless its manifest already
    /// exists; returns the manifest's path.</summary>
    public static string Write(string directory, int count, int size, int frames, ulong seed, int fps = 25, int sampleRate = 16000)
    {
        var manifest = Path.Combine(directory, ManifestName);
        if (File.Exists(manifest)) return manifest;
        Directory.CreateDirectory(directory);
        var shapes = new MovingShapes(size, frames, seed);
        var lines = new List<string> { "video,audio,caption,image" };
        for (int i = 0; i < count; i++)
        {
            var s = shapes.Get(i);
            var images = Frames(s.Pixels, frames, size);
            string name = $"clip{i:D4}";
            Ffmpeg.WriteVideo(Path.Combine(directory, name + ".mp4"), images, fps);
            Wav.Write(Path.Combine(directory, name + ".wav"), Tone(s.Pixels, frames, size, fps, sampleRate), sampleRate, 1);
            string image = "";
            if (i % 2 == 1)
            {
                image = name + ".png";
                Png.Write(Path.Combine(directory, image), images[0]);
            }
            lines.Add($"{name}.mp4,{name}.wav,\"{s.Caption}\",{image}");
        }
        Training.RunDirectory.WriteAtomic(manifest, string.Join("\n", lines) + "\n");
        return manifest;
    }

    private static List<RgbImage> Frames(float[] px, int frames, int size)       // px: [3, T, H, W] in [-1, 1]
    {
        var list = new List<RgbImage>();
        var chw = new float[3 * size * size];
        for (int t = 0; t < frames; t++)
        {
            for (int c = 0; c < 3; c++)
                Array.Copy(px, (c * frames + t) * size * size, chw, c * size * size, size * size);
            list.Add(RgbImage.FromPlanar(chw, 3, size, size, -1f, 1f));
        }
        return list;
    }

    /// <summary>Centroid (x, y) / size of the pixels that differ from the background (the top-left pixel) in frame t.</summary>
    public static (double X, double Y) Centroid(float[] px, int frames, int size, int t)
    {
        double sx = 0, sy = 0, sw = 0;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                double d = 0;
                for (int c = 0; c < 3; c++)
                {
                    int plane = (c * frames + t) * size * size;
                    d += Math.Abs(px[plane + y * size + x] - px[plane]);
                }
                sx += d * x; sy += d * y; sw += d;
            }
        return sw == 0 ? (0.5, 0.5) : (sx / sw / size, sy / sw / size);
    }

    private static float[] Tone(float[] px, int frames, int size, int fps, int sampleRate)
    {
        var freq = Enumerable.Range(0, frames).Select(t => { var (x, y) = Centroid(px, frames, size, t); return 220 + 440 * x + 220 * y; }).ToArray();
        int n = frames * sampleRate / fps;
        var samples = new float[n];
        double phase = 0;
        for (int i = 0; i < n; i++)
        {
            double ft = (double)i * fps / sampleRate;                               // position in frames
            int f0 = Math.Min((int)ft, frames - 1), f1 = Math.Min(f0 + 1, frames - 1);
            double f = freq[f0] + (freq[f1] - freq[f0]) * (ft - f0);
            phase += 2 * Math.PI * f / sampleRate;
            samples[i] = (float)(0.3 * Math.Sin(phase));
        }
        return samples;
    }
}
