namespace AptLab.Data.Synthetic;

/// <summary>
/// The demo's built-in data: a shape of a named colour moving in a named direction over a plain background,
/// captioned "a red circle moving left". Every sample is a pure function of (seed, index), so a dataset needs
/// no files and held-out data is just other indices. Frames are RGB in [-1, 1], [3, T, H, W]; images are T = 1.
/// </summary>
public sealed class MovingShapes
{
    public static readonly string[] Colours = { "red", "green", "blue", "yellow", "magenta", "cyan", "white", "orange" };
    public static readonly string[] ShapeNames = { "circle", "square", "triangle" };
    public static readonly string[] Directions = { "left", "right", "up", "down" };

    private static readonly float[][] Rgb =
    {
        new[] { 0.9f, 0.15f, 0.1f }, new[] { 0.15f, 0.8f, 0.2f }, new[] { 0.15f, 0.3f, 0.95f }, new[] { 0.95f, 0.9f, 0.15f },
        new[] { 0.9f, 0.2f, 0.85f }, new[] { 0.15f, 0.85f, 0.9f }, new[] { 0.95f, 0.95f, 0.95f }, new[] { 1.0f, 0.55f, 0.1f },
    };

    public int Size { get; }
    public int Frames { get; }
    public ulong Seed { get; }

    /// <param name="size">frame height and width in pixels</param>
    /// <param name="frames">frames per clip (1 for images)</param>
    public MovingShapes(int size = 32, int frames = 1, ulong seed = 0)
    {
        if (size < 8) throw new ArgumentOutOfRangeException(nameof(size), "frames must be at least 8 pixels");
        if (frames < 1) throw new ArgumentOutOfRangeException(nameof(frames));
        (Size, Frames, Seed) = (size, frames, seed);
    }

    public sealed record Sample(float[] Pixels, string Caption, int Colour, int Shape, int Direction);

    /// <summary>The sample at <paramref name="index"/>: pixels [3, T, H, W] row-major in [-1, 1].</summary>
    public Sample Get(long index)
    {
        var rng = new SplitMix(Seed * 0x9E3779B97F4A7C15UL ^ (ulong)index * 0xBF58476D1CE4E5B9UL);
        int colour = rng.Next(Colours.Length), shape = rng.Next(ShapeNames.Length), dir = rng.Next(Directions.Length);
        float radius = Size * (0.16f + 0.08f * rng.NextFloat());
        float speed = Size * 0.06f;                          // pixels per frame
        float travel = speed * (Frames - 1);
        // Start so that the whole path stays inside the frame.
        float margin = radius + 1;
        float cx = margin + rng.NextFloat() * (Size - 2 * margin), cy = margin + rng.NextFloat() * (Size - 2 * margin);
        var (dx, dy) = dir switch { 0 => (-1f, 0f), 1 => (1f, 0f), 2 => (0f, -1f), _ => (0f, 1f) };
        cx = Math.Clamp(cx - dx * travel / 2, margin, Size - margin);
        cy = Math.Clamp(cy - dy * travel / 2, margin, Size - margin);
        float bg = -0.7f + 0.2f * rng.NextFloat();
        var px = new float[3 * Frames * Size * Size];
        for (int t = 0; t < Frames; t++)
        {
            float x0 = Math.Clamp(cx + dx * speed * t, margin, Size - margin), y0 = Math.Clamp(cy + dy * speed * t, margin, Size - margin);
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                {
                    float cover = Coverage(shape, x, y, x0, y0, radius);
                    for (int c = 0; c < 3; c++)
                        px[((c * Frames + t) * Size + y) * Size + x] = bg * (1 - cover) + (Rgb[colour][c] * 2 - 1) * cover;
                }
        }
        var caption = Caption(colour, shape, dir);
        return new Sample(px, caption, colour, shape, dir);
    }

    /// <summary>"a red circle moving left", "an orange square moving up".</summary>
    public static string Caption(int colour, int shape, int direction)
    {
        var c = Colours[colour];
        return $"{("aeiou".Contains(c[0]) ? "an" : "a")} {c} {ShapeNames[shape]} moving {Directions[direction]}";
    }

    /// <summary>A batch: pixels [B, 3, T, H, W] and captions.</summary>
    public (Tensor pixels, string[] captions) Batch(long start, int count)
    {
        var all = new float[count * 3L * Frames * Size * Size];
        var captions = new string[count];
        int per = 3 * Frames * Size * Size;
        for (int i = 0; i < count; i++)
        {
            var s = Get(start + i);
            Array.Copy(s.Pixels, 0, all, (long)i * per, per);
            captions[i] = s.Caption;
        }
        return (torch.tensor(all, count, 3, Frames, Size, Size), captions);
    }

    /// <summary>Fraction of the pixel (x, y) covered by the shape, from 4x4 supersampling (anti-aliased edges).</summary>
    private static float Coverage(int shape, int x, int y, float cx, float cy, float r)
    {
        int inside = 0;
        for (int sy = 0; sy < 4; sy++)
            for (int sx = 0; sx < 4; sx++)
            {
                float px = x + (sx + 0.5f) / 4 - cx, py = y + (sy + 0.5f) / 4 - cy;
                bool hit = shape switch
                {
                    0 => px * px + py * py <= r * r,
                    1 => Math.Abs(px) <= r * 0.85f && Math.Abs(py) <= r * 0.85f,
                    _ => py <= r * 0.8f && py >= -r + 2 * Math.Abs(px) * 1.0f,     // apex up, base at +0.8r
                };
                if (hit) inside++;
            }
        return inside / 16f;
    }
}
