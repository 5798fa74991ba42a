namespace AptLab.Data.Media;

/// <summary>
/// An 8-bit image in row-major interleaved layout: <c>Pixels[(y * Width + x) * Channels + c]</c>.
/// Channels is 3 (RGB) or 1 (grayscale). This is the exchange type of PNG, ffmpeg and the image grids.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }
    public byte[] Pixels { get; }                            // [H, W, C]

    public RgbImage(int width, int height, int channels = 3, byte[]? pixels = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}x{height}");
        if (channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 (gray) or 3 (RGB), got {channels}");
        long n = (long)width * height * channels;
        if (pixels is not null && pixels.Length != n)
            throw new ArgumentException($"pixel buffer has {pixels.Length} bytes, a {width}x{height}x{channels} image needs {n}");
        Width = width; Height = height; Channels = channels;
        Pixels = pixels ?? new byte[n];
    }

    /// <summary>A solid image filled with one colour.</summary>
    public static RgbImage Solid(int width, int height, byte r, byte g, byte b)
    {
        var img = new RgbImage(width, height);
        for (int i = 0; i < img.Pixels.Length; i += 3) { img.Pixels[i] = r; img.Pixels[i + 1] = g; img.Pixels[i + 2] = b; }
        return img;
    }

    public int Index(int x, int y) => (y * Width + x) * Channels;

    public void SetPixel(int x, int y, byte r, byte g, byte b)
    {
        int i = Index(x, y);
        if (Channels == 1) { Pixels[i] = (byte)((r * 299 + g * 587 + b * 114 + 500) / 1000); return; }
        Pixels[i] = r; Pixels[i + 1] = g; Pixels[i + 2] = b;
    }

    /// <summary>The 3-channel version of this image (a copy; gray is replicated).</summary>
    public RgbImage ToRgb()
    {
        if (Channels == 3) return new RgbImage(Width, Height, 3, (byte[])Pixels.Clone());
        var rgb = new RgbImage(Width, Height);
        for (int i = 0; i < Pixels.Length; i++) rgb.Pixels[3 * i] = rgb.Pixels[3 * i + 1] = rgb.Pixels[3 * i + 2] = Pixels[i];
        return rgb;
    }

    /// <summary>Mean of each channel over all pixels, in 0..255.</summary>
    public double[] MeanColor()
    {
        var sum = new double[Channels];
        for (int i = 0; i < Pixels.Length; i++) sum[i % Channels] += Pixels[i];
        for (int c = 0; c < Channels; c++) sum[c] /= (double)Width * Height;
        return sum;
    }

    /// <summary>
    /// Builds an image from planar floats <c>chw: [C, H, W]</c> (C = 1 or 3), mapping <paramref name="low"/>..
    /// <paramref name="high"/> to 0..255 with clamping and rounding (PyTorch's add_image expects 0..1;
    /// diffusion samples are -1..1).
    /// </summary>
    public static RgbImage FromPlanar(ReadOnlySpan<float> chw, int channels, int height, int width, float low = 0f, float high = 1f)
    {
        if (chw.Length != channels * height * width)
            throw new ArgumentException($"planar buffer has {chw.Length} values, [{channels}, {height}, {width}] needs {channels * height * width}");
        var img = new RgbImage(width, height, channels);
        float scale = 255f / (high - low);
        int plane = height * width;
        for (int c = 0; c < channels; c++)
            for (int p = 0; p < plane; p++)
            {
                float v = (chw[c * plane + p] - low) * scale;
                img.Pixels[p * channels + c] = (byte)Math.Clamp(MathF.Round(float.IsNaN(v) ? 0 : v), 0f, 255f);
            }
        return img;
    }

    /// <summary>Planar floats <c>[C, H, W]</c> in <paramref name="low"/>..<paramref name="high"/>.</summary>
    public float[] ToPlanar(float low = 0f, float high = 1f)
    {
        var chw = new float[Pixels.Length];
        int plane = Width * Height;
        float scale = (high - low) / 255f;
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < Channels; c++)
                chw[c * plane + p] = low + Pixels[p * Channels + c] * scale;
        return chw;
    }

    /// <summary>Copies <paramref name="src"/> into this image with its top-left corner at (x0, y0), clipping.</summary>
    public void Blit(RgbImage src, int x0, int y0)
    {
        var s = src.Channels == Channels ? src : Channels == 3 ? src.ToRgb() : throw new ArgumentException("cannot blit RGB into gray");
        for (int y = 0; y < s.Height; y++)
        {
            int ty = y0 + y;
            if (ty < 0 || ty >= Height) continue;
            int xs = Math.Max(0, -x0), xe = Math.Min(s.Width, Width - x0);
            if (xe <= xs) continue;
            Array.Copy(s.Pixels, s.Index(xs, y), Pixels, Index(x0 + xs, ty), (xe - xs) * Channels);
        }
    }

    /// <summary>This image enlarged to even width and height by repeating the last column/row (libx264 needs even sizes).</summary>
    public RgbImage PadToEven()
    {
        int w = Width + (Width & 1), h = Height + (Height & 1);
        if (w == Width && h == Height) return this;
        var o = new RgbImage(w, h, Channels);
        for (int y = 0; y < h; y++)
        {
            int sy = Math.Min(y, Height - 1);
            Array.Copy(Pixels, Index(0, sy), o.Pixels, o.Index(0, y), Width * Channels);
            if (w != Width) Array.Copy(Pixels, Index(Width - 1, sy), o.Pixels, o.Index(Width, y), Channels);
        }
        return o;
    }
}
