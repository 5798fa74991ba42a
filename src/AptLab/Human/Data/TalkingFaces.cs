using AptLab.Data.Media;
using AptLab.Data.Synthetic;
using AptLab.Human.Pose;

namespace AptLab.Human.Data;

/// <summary>
/// The OmniHuman study's built-in data (docs/omnihuman.md#the-study): a "face" (a bright disc with two dark eyes and a
/// dark mouth) on a dark background whose mouth opening follows the loudness of a synthetic speech-like track, while
/// the face drifts along a smooth path. Every clip is a pure function of (seed, index):
/// <list type="bullet">
/// <item>audio: "syllables", raised-cosine bursts a(τ) = level·sin²(π(τ - s)/d) of 6-12 frames with 1-4 frame gaps,
/// carrying a voiced tone (f0 120-300 Hz plus its second harmonic);</item>
/// <item><see cref="Clip.Envelope"/>[f] = the mean of a(τ) over frame f, in [0, 1]; the mouth's height is
/// 0.05 r + 0.7 r·envelope and its half-width 0.5 r (r the face radius);</item>
/// <item>the face centre moves as c0 + A sin(2π t / P + φ) per axis (A up to 0.1 of the frame);</item>
/// <item>pose: COCO-WholeBody keypoints of the head (nose at the centre, eyes, ears; other points undetected), so the
/// pose says where the face is but nothing about the mouth;</item>
/// <item>caption: "a yellow face on a blue background" (face and background colour names).</item>
/// </list>
/// <see cref="Write"/> stores clips as mp4 + wav (+ keypoints JSON) with a manifest; some clips fail the "lip-sync
/// filter" on purpose (their audio belongs to another envelope: <c>audio_qualified</c> false) and only some have pose.
/// </summary>
public sealed class TalkingFaces
{
    public const string ManifestName = "manifest.csv";
    public static readonly string[] FaceColours = ["yellow", "orange", "white", "cyan", "green", "magenta"];
    public static readonly string[] BackgroundColours = ["blue", "red", "green", "magenta", "cyan", "orange"];
    private static readonly float[][] FaceRgb =
    [
        [0.95f, 0.9f, 0.2f], [1.0f, 0.6f, 0.2f], [0.95f, 0.95f, 0.95f], [0.3f, 0.9f, 0.95f], [0.35f, 0.9f, 0.35f], [0.95f, 0.35f, 0.9f],
    ];
    private static readonly float[][] BackgroundRgb =
    [
        [0.1f, 0.12f, 0.4f], [0.4f, 0.08f, 0.08f], [0.08f, 0.3f, 0.1f], [0.3f, 0.08f, 0.3f], [0.05f, 0.28f, 0.3f], [0.35f, 0.2f, 0.05f],
    ];
    /// <summary>The mouth's and eyes' colour (dark on every face colour).</summary>
    public const float FeatureLevel = -0.85f;

    public int Size { get; }
    public int Frames { get; }
    public ulong Seed { get; }
    public int Fps { get; }
    public int SampleRate { get; }
    public int SamplesPerFrame => SampleRate / Fps;

    public TalkingFaces(int size = 32, int frames = 18, ulong seed = 0, int fps = 25, int sampleRate = 16000)
    {
        if (size < 16) throw new ArgumentOutOfRangeException(nameof(size), "faces need at least 16 pixels");
        if (frames < 1) throw new ArgumentOutOfRangeException(nameof(frames));
        if (fps <= 0 || sampleRate % fps != 0) throw new ArgumentException($"fps {fps} must divide the sample rate {sampleRate}");
        (Size, Frames, Seed, Fps, SampleRate) = (size, frames, seed, fps, sampleRate);
    }

    /// <summary>One clip.</summary>
    /// <param name="Pixels">[3, T, S, S] row-major in [-1, 1]</param>
    /// <param name="Audio">mono samples, T · samples-per-frame</param>
    /// <param name="Envelope">[T] the mouth's loudness envelope in [0, 1] (the audio's own when <see cref="InSync"/>)</param>
    /// <param name="Centre">[T] face centre (x, y) in pixels</param>
    /// <param name="Radius">face radius in pixels</param>
    /// <param name="InSync">false: the audio follows another envelope (a clip the lip-sync filter rejects)</param>
    public sealed record Clip(float[] Pixels, float[] Audio, double[] Envelope, (double X, double Y)[] Centre, double Radius,
        string Caption, int FaceColour, int Background, bool InSync)
    {
        /// <summary>The head keypoints of the clip (normalised to the frame).</summary>
        public WholeBodyKeypoints Keypoints(int size) => HeadKeypoints(Centre, Radius, size);
    }

    /// <summary>The clip at <paramref name="index"/>; <paramref name="inSync"/> false swaps in another envelope's audio.</summary>
    public Clip Get(long index, bool inSync = true)
    {
        var rng = new SplitMix(Seed * 0x9E3779B97F4A7C15UL ^ (ulong)(index + 1) * 0xD1B54A32D192ED03UL);
        int face = rng.Next(FaceColours.Length), bg = rng.Next(BackgroundColours.Length);
        if (bg == Array.IndexOf(BackgroundColours, FaceColours[face])) bg = (bg + 1) % BackgroundColours.Length;
        double r = Size * rng.Uniform(0.26, 0.32);
        double amp = Size * rng.Uniform(0.03, 0.1), period = rng.Uniform(12, 30), px = rng.Uniform(0, 2 * Math.PI), py = rng.Uniform(0, 2 * Math.PI);
        double ax = amp * rng.Uniform(0.3, 1), ay = amp * rng.Uniform(0.3, 1);
        double margin = r + amp + 1;
        double cx0 = rng.Uniform(margin, Size - margin), cy0 = rng.Uniform(margin, Size - margin);
        var centre = Enumerable.Range(0, Frames).Select(t => (cx0 + ax * Math.Sin(2 * Math.PI * t / period + px), cy0 + ay * Math.Sin(2 * Math.PI * t / period + py))).ToArray();
        var mouthBursts = Bursts(ref rng);
        double f0 = rng.Uniform(120, 300);
        var audioBursts = inSync ? mouthBursts : Bursts(ref rng);
        var envelope = Envelope(mouthBursts);
        var audio = Voice(audioBursts, f0);
        var pixels = Render(centre, r, envelope, FaceRgb[face], BackgroundRgb[bg]);
        var caption = $"{Article(FaceColours[face])} {FaceColours[face]} face on {Article(BackgroundColours[bg])} {BackgroundColours[bg]} background";
        return new Clip(pixels, audio, envelope, centre, r, caption, face, bg, inSync);
    }

    private static string Article(string word) => "aeiou".Contains(word[0]) ? "an" : "a";

    private List<(double Start, double Length, double Level)> Bursts(ref SplitMix rng)
    {
        var list = new List<(double, double, double)>();
        double tau = rng.Uniform(-4, 0);
        while (tau < Frames)
        {
            double gap = rng.Uniform(1, 4), len = rng.Uniform(6, 12), level = rng.Uniform(0.4, 1);
            list.Add((tau + gap, len, level));
            tau += gap + len;
        }
        return list;
    }

    /// <summary>a(τ) at time τ in frames.</summary>
    private static double Amplitude(List<(double Start, double Length, double Level)> bursts, double tau)
    {
        double a = 0;
        foreach (var (s, d, l) in bursts)
            if (tau >= s && tau < s + d) a += l * Math.Pow(Math.Sin(Math.PI * (tau - s) / d), 2);
        return Math.Min(1, a);
    }

    private double[] Envelope(List<(double, double, double)> bursts)
    {
        const int sub = 16;
        return Enumerable.Range(0, Frames).Select(f => Enumerable.Range(0, sub).Average(i => Amplitude(bursts, f + (i + 0.5) / sub))).ToArray();
    }

    private float[] Voice(List<(double, double, double)> bursts, double f0)
    {
        int n = Frames * SamplesPerFrame;
        var y = new float[n];
        double phase = 0;
        for (int i = 0; i < n; i++)
        {
            double tau = (double)i / SamplesPerFrame;
            double f = f0 * (1 + 0.03 * Math.Sin(2 * Math.PI * tau / 9));
            phase += 2 * Math.PI * f / SampleRate;
            y[i] = (float)(0.5 * Amplitude(bursts, tau) * (0.7 * Math.Sin(phase) + 0.3 * Math.Sin(2 * phase + 0.5)));
        }
        return y;
    }

    /// <summary>Pixels [3, T, S, S] of a face at the given centres with the given mouth envelope (4x4 supersampled).</summary>
    public float[] Render((double X, double Y)[] centre, double r, double[] envelope, float[] faceRgb, float[] bgRgb)
    {
        int t = centre.Length, s = Size;
        var px = new float[3 * t * s * s];
        for (int f = 0; f < t; f++)
        {
            var (cx, cy) = centre[f];
            double mouthH = 0.05 * r + 0.7 * r * envelope[f], mouthW = 0.5 * r, mouthY = cy + 0.42 * r, eyeR = 0.13 * r;
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    int faceHits = 0, featureHits = 0;
                    for (int sy = 0; sy < 4; sy++)
                        for (int sx = 0; sx < 4; sx++)
                        {
                            double qx = x + (sx + 0.5) / 4, qy = y + (sy + 0.5) / 4, dx = qx - cx, dy = qy - cy;
                            if (dx * dx + dy * dy > r * r) continue;
                            faceHits++;
                            double mx = (qx - cx) / mouthW, my = (qy - mouthY) / (mouthH / 2);
                            bool mouth = mx * mx + my * my <= 1;
                            bool eye = Sq(qx - (cx - 0.38 * r)) + Sq(qy - (cy - 0.25 * r)) <= eyeR * eyeR
                                    || Sq(qx - (cx + 0.38 * r)) + Sq(qy - (cy - 0.25 * r)) <= eyeR * eyeR;
                            if (mouth || eye) featureHits++;
                        }
                    float cover = faceHits / 16f, feature = featureHits / 16f;
                    for (int c = 0; c < 3; c++)
                    {
                        float fc = faceRgb[c] * 2 - 1, bc = bgRgb[c] * 2 - 1;
                        px[((c * t + f) * s + y) * s + x] = bc * (1 - cover) + fc * (cover - feature) + FeatureLevel * feature;
                    }
                }
        }
        return px;
    }

    private static double Sq(double v) => v * v;

    /// <summary>COCO-WholeBody keypoints of the head for each frame: nose at the centre, eyes, ears; points outside the
    /// frame and every other point undetected (score 0).</summary>
    public static WholeBodyKeypoints HeadKeypoints((double X, double Y)[] centre, double r, int size)
    {
        var p = new float[centre.Length, WholeBodyKeypoints.Count, 3];
        for (int f = 0; f < centre.Length; f++)
        {
            var (cx, cy) = centre[f];
            void Set(int k, double x, double y)
            {
                p[f, k, 0] = (float)(x / size); p[f, k, 1] = (float)(y / size);
                p[f, k, 2] = x >= 0 && x <= size && y >= 0 && y <= size ? 1f : 0f;
            }
            Set(WholeBodyKeypoints.Nose, cx, cy);
            Set(WholeBodyKeypoints.LeftEye, cx + 0.38 * r, cy - 0.25 * r);
            Set(WholeBodyKeypoints.RightEye, cx - 0.38 * r, cy - 0.25 * r);
            Set(3, cx + r, cy);                                                  // left ear
            Set(4, cx - r, cy);                                                  // right ear
        }
        return new WholeBodyKeypoints(p);
    }

    /// <summary>The face and background colours in [-1, 1] of a clip.</summary>
    public static (float[] Face, float[] Background) Colours(Clip c) =>
        (FaceRgb[c.FaceColour].Select(v => v * 2 - 1).ToArray(), BackgroundRgb[c.Background].Select(v => v * 2 - 1).ToArray());

    /// <summary>
    /// Writes <paramref name="count"/> clips (indices 0 ..) as <c>clipNNNN.mp4</c> + <c>.wav</c> (+ <c>.pose.json</c>) and
    /// <see cref="ManifestName"/> (columns video, audio, caption, pose, audio_qualified) into
    /// <paramref name="directory"/>, unless the manifest exists already; returns its path. A clip is audio-qualified with
    /// probability <paramref name="audioQualified"/> (else its audio follows another envelope) and has pose keypoints
    /// with probability <paramref name="withPose"/>, both decided by (seed, index). <paramref name="workers"/> clips are made at once.
    /// </summary>
    public string Write(string directory, int count, double audioQualified, double withPose, int crf = 10, int workers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        var manifest = Path.Combine(directory, ManifestName);
        if (File.Exists(manifest)) return manifest;
        Directory.CreateDirectory(directory);
        var lines = new string[count];
        // every clip is a pure function of its index: the workers (each waiting on its own ffmpeg) write in any order
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = workers }, i =>
        {
            var (sync, pose) = Qualification(i, audioQualified, withPose);
            var clip = Get(i, sync);
            string name = $"clip{i:D4}";
            Ffmpeg.WriteVideo(Path.Combine(directory, name + ".mp4"), Images(clip.Pixels), Fps, crf);
            Wav.Write(Path.Combine(directory, name + ".wav"), clip.Audio, SampleRate, 1);
            string poseFile = "";
            if (pose)
            {
                poseFile = name + ".pose.json";
                clip.Keypoints(Size).Save(Path.Combine(directory, poseFile));
            }
            lines[i] = $"{name}.mp4,{name}.wav,\"{clip.Caption}\",{poseFile},{(sync ? "true" : "false")}";
        });
        AptLab.Training.RunDirectory.WriteAtomic(manifest, "video,audio,caption,pose,audio_qualified\n" + string.Join("\n", lines) + "\n");
        return manifest;
    }

    /// <summary>(audio in sync, has pose) of clip <paramref name="index"/>.</summary>
    public (bool Sync, bool Pose) Qualification(long index, double audioQualified, double withPose)
    {
        var rng = new SplitMix(Seed ^ 0xA0761D6478BD642FUL ^ (ulong)index * 0xE7037ED1A0B428DBUL);
        return (rng.Uniform(0, 1) < audioQualified, rng.Uniform(0, 1) < withPose);
    }

    /// <summary>Frames as images: pixels [3, T, S, S] in [-1, 1].</summary>
    public List<RgbImage> Images(float[] px)
    {
        var list = new List<RgbImage>();
        int plane = Size * Size, t = px.Length / (3 * plane);
        var chw = new float[3 * plane];
        for (int f = 0; f < t; f++)
        {
            for (int c = 0; c < 3; c++) Array.Copy(px, (c * t + f) * plane, chw, c * plane, plane);
            list.Add(RgbImage.FromPlanar(chw, 3, Size, Size, -1f, 1f));
        }
        return list;
    }
}
