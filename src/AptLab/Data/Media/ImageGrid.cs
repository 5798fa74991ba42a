namespace AptLab.Data.Media;

/// <summary>
/// Sample grids and contact sheets: tiles laid out on a background with a margin, optionally captioned with
/// the built-in <see cref="BitmapFont"/> ("teacher 25 steps", "APT 1 step").
/// </summary>
public static class ImageGrid
{
    /// <summary>
    /// Lays <paramref name="tiles"/> out row by row, <paramref name="columns"/> per row, in cells as large as
    /// the largest tile. Each tile gets the caption of the same index (if given) in a strip above it.
    /// </summary>
    public static RgbImage Tile(IReadOnlyList<RgbImage> tiles, int columns, int margin = 4,
                                IReadOnlyList<string>? captions = null, int fontScale = 1, byte background = 255)
    {
        if (tiles.Count == 0) throw new ArgumentException("image grid needs at least one tile");
        if (columns < 1) throw new ArgumentException($"image grid columns must be >= 1, got {columns}");
        if (margin < 0) throw new ArgumentException($"image grid margin must be >= 0, got {margin}");
        if (captions is not null && captions.Count != tiles.Count)
            throw new ArgumentException($"image grid has {tiles.Count} tiles but {captions.Count} captions");

        int cellW = tiles.Max(t => t.Width), cellH = tiles.Max(t => t.Height);
        int capH = captions is null ? 0 : CaptionHeight(fontScale);
        int cols = Math.Min(columns, tiles.Count), rows = (tiles.Count + columns - 1) / columns;
        var sheet = Blank(margin + cols * (cellW + margin), margin + rows * (capH + cellH + margin), background);
        for (int i = 0; i < tiles.Count; i++)
        {
            int x = margin + i % columns * (cellW + margin), y = margin + i / columns * (capH + cellH + margin);
            if (captions is not null) BitmapFont.Draw(sheet, captions[i], x, y + 1, TextColor(background), fontScale);
            sheet.Blit(tiles[i], x, y + capH);
        }
        return sheet;
    }

    /// <summary>
    /// One row per method (its label in a strip above the row), frames side by side: the usual one-step vs
    /// multi-step comparison sheet.
    /// </summary>
    public static RgbImage ContactSheet(IReadOnlyList<(string Label, IReadOnlyList<RgbImage> Frames)> rows,
                                        int margin = 4, int fontScale = 1, byte background = 255)
    {
        if (rows.Count == 0 || rows.Any(r => r.Frames.Count == 0)) throw new ArgumentException("contact sheet needs rows with at least one frame each");
        int cellW = rows.SelectMany(r => r.Frames).Max(f => f.Width), cellH = rows.SelectMany(r => r.Frames).Max(f => f.Height);
        int cols = rows.Max(r => r.Frames.Count), capH = CaptionHeight(fontScale);
        int width = Math.Max(margin + cols * (cellW + margin), 2 * margin + rows.Max(r => BitmapFont.MeasureWidth(r.Label, fontScale)));
        var sheet = Blank(width, margin + rows.Count * (capH + cellH + margin), background);
        for (int r = 0; r < rows.Count; r++)
        {
            int y = margin + r * (capH + cellH + margin);
            BitmapFont.Draw(sheet, rows[r].Label, margin, y + 1, TextColor(background), fontScale);
            for (int c = 0; c < rows[r].Frames.Count; c++) sheet.Blit(rows[r].Frames[c], margin + c * (cellW + margin), y + capH);
        }
        return sheet;
    }

    private static int CaptionHeight(int scale) => BitmapFont.Height(scale) + 2 + scale;

    private static (byte, byte, byte) TextColor(byte background) => background >= 128 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255);

    private static RgbImage Blank(int w, int h, byte background)
    {
        var img = new RgbImage(w, h);
        Array.Fill(img.Pixels, background);
        return img;
    }
}
