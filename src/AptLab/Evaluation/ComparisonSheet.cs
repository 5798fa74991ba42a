using AptLab.Data.Media;

namespace AptLab.Evaluation;

/// <summary>
/// The comparison grid: one row per method (its label in a strip above the row, as in
/// <see cref="ImageGrid.ContactSheet"/>), one column per prompt, with the prompts word-wrapped in a header
/// above their columns. Used for the PNG sheet (first frame) and, frame by frame, for the mp4 grid.
/// </summary>
public static class ComparisonSheet
{
    /// <summary>
    /// Lays out <paramref name="rows"/> (label, one tile per column) under a header with
    /// <paramref name="columnCaptions"/> wrapped to the column width. Tiles should share one size.
    /// </summary>
    public static RgbImage Build(IReadOnlyList<(string Label, IReadOnlyList<RgbImage> Tiles)> rows,
                                 IReadOnlyList<string> columnCaptions, int margin = 4, int fontScale = 1, byte background = 255)
    {
        if (rows.Count == 0) throw new ArgumentException("comparison sheet needs at least one method row");
        int cols = rows[0].Tiles.Count;
        if (cols == 0 || rows.Any(r => r.Tiles.Count != cols))
            throw new ArgumentException($"comparison sheet rows must all have the same, non-zero number of tiles (first row has {cols})");
        if (columnCaptions.Count != cols)
            throw new ArgumentException($"comparison sheet has {cols} columns but {columnCaptions.Count} column captions");

        var body = ImageGrid.ContactSheet(rows, margin, fontScale, background);
        int cellW = rows.SelectMany(r => r.Tiles).Max(t => t.Width);
        int maxChars = Math.Max(1, (cellW + fontScale) / (BitmapFont.Advance * fontScale));
        var wrapped = columnCaptions.Select(c => Wrap(c, maxChars)).ToList();
        int lineH = BitmapFont.Height(fontScale) + fontScale;
        int headerH = margin + wrapped.Max(l => l.Count) * lineH;

        var sheet = new RgbImage(body.Width, headerH + body.Height);
        Array.Fill(sheet.Pixels, background);
        var ink = background >= 128 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255);
        for (int c = 0; c < cols; c++)
            for (int l = 0; l < wrapped[c].Count; l++)
                BitmapFont.Draw(sheet, wrapped[c][l], margin + c * (cellW + margin), margin + l * lineH, ink, fontScale);
        sheet.Blit(body, 0, headerH);
        return sheet;
    }

    /// <summary>Greedy word wrap to lines of at most <paramref name="maxChars"/> characters (long words are cut).</summary>
    public static List<string> Wrap(string text, int maxChars)
    {
        if (maxChars < 1) throw new ArgumentException($"wrap width must be >= 1, got {maxChars}");
        var lines = new List<string>();
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var w = word;
            while (w.Length > maxChars)                                      // a word longer than a line
            {
                if (line.Length > 0) { lines.Add(line); line = ""; }
                lines.Add(w[..maxChars]);
                w = w[maxChars..];
            }
            if (line.Length == 0) line = w;
            else if (line.Length + 1 + w.Length <= maxChars) line += " " + w;
            else { lines.Add(line); line = w; }
        }
        if (line.Length > 0 || lines.Count == 0) lines.Add(line);
        return lines;
    }

    /// <summary>Nearest-neighbour enlargement by an integer factor (small samples stay crisp on a sheet).</summary>
    public static RgbImage Zoom(RgbImage image, int factor)
    {
        if (factor < 1) throw new ArgumentException($"zoom factor must be >= 1, got {factor}");
        if (factor == 1) return image;
        int c = image.Channels;
        var o = new RgbImage(image.Width * factor, image.Height * factor, c);
        for (int y = 0; y < o.Height; y++)
            for (int x = 0; x < o.Width; x++)
                Array.Copy(image.Pixels, image.Index(x / factor, y / factor), o.Pixels, o.Index(x, y), c);
        return o;
    }
}
