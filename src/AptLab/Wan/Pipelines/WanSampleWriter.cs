using AptLab.Data.Media;

namespace AptLab.Wan.Pipelines;

/// <summary>Writes a generated clip: an H.264 mp4 of all frames (through ffmpeg) and a PNG contact sheet of up to
/// <see cref="SheetFrames"/> evenly spaced frames, 4 per row, captioned.</summary>
public static class WanSampleWriter
{
    public const int SheetFrames = 8;
    public const int SheetColumns = 4;

    /// <summary>The frames the contact sheet shows: all when there are at most <see cref="SheetFrames"/>, else
    /// <see cref="SheetFrames"/> evenly spaced ones, first and last included.</summary>
    public static int[] SheetFrameIndices(int frames)
    {
        if (frames <= SheetFrames) return Enumerable.Range(0, frames).ToArray();
        return Enumerable.Range(0, SheetFrames).Select(i => (int)Math.Round(i * (frames - 1) / (double)(SheetFrames - 1))).ToArray();
    }

    /// <summary>Pixel frames (video [3, F, H, W] in [−1, 1], converted as the official save: clamp, (x + 1)/2·255).</summary>
    public static List<RgbImage> Frames(Tensor video) => TensorImages.ToFrames(video, -1f, 1f);

    /// <summary>Writes <c>{name}.mp4</c> and <c>{name}.png</c> into <paramref name="dir"/>; returns both paths.</summary>
    public static (string Video, string Sheet) Write(string dir, string name, Tensor video, double fps, string caption)
    {
        Directory.CreateDirectory(dir);
        var frames = Frames(video);
        var mp4 = Path.Combine(dir, name + ".mp4");
        var png = Path.Combine(dir, name + ".png");
        Ffmpeg.WriteVideo(mp4, frames, fps);
        var idx = SheetFrameIndices(frames.Count);
        var rows = new List<(string, IReadOnlyList<RgbImage>)>();
        for (int r = 0; r * SheetColumns < idx.Length; r++)
        {
            var part = idx.Skip(r * SheetColumns).Take(SheetColumns).ToArray();
            var label = $"frames {string.Join(", ", part)}";
            if (r == 0) label = caption + "  |  " + label;
            rows.Add((label, part.Select(i => frames[i]).ToList()));
        }
        Png.Write(png, ImageGrid.ContactSheet(rows));
        return (mp4, png);
    }
}
