namespace AptLab.Data.Media;

/// <summary>
/// A 5x7 pixel bitmap font (plus two descender rows) for printable ASCII (32..126), drawn on a 6x9 cell (one
/// column of spacing), so contact sheets can carry captions without any font library. Characters outside the range
/// are drawn as '?'.
/// </summary>
public static class BitmapFont
{
    public const int GlyphWidth = 5, GlyphHeight = 9, CapHeight = 7, Advance = 6;

    // 95 glyphs x 9 rows (7 above the baseline, 2 for descenders), each row two hex digits whose low 5 bits are the pixels (bit 4 = leftmost column).
    private const string Glyphs =
        "0000000000000000000404040404000400000A0A000000000000000A0A1F0A1F0A0A0000040F140E051E040000181902040813030000" + //  !"#$%
        "0C12140815120D00000404000000000000000204080808040200000804020202040800000004150E15040000000004041F0404000000" + // &'()*+
        "00000000000C0C04080000001F000000000000000000000C0C00000001020408100000000E11131519110E0000040C040404040E0000" + // ,-./01
        "0E11010204081F00001F02040201110E000002060A121F020200001F101E0101110E00000608101E11110E00001F0102040808080000" + // 234567
        "0E11110E11110E00000E11110F01020C0000000C0C000C0C00000000000C0C000C0C040802040810080402000000001F001F00000000" + // 89:;<=
        "0804020102040800000E11010204000400000E11010D15150E00000E11111F11111100001E11111E11111E00000E11101010110E0000" + // >?@ABC
        "1C12111111121C00001F10101E10101F00001F10101E10101000000E11101711110F00001111111F11111100000E04040404040E0000" + // DEFGHI
        "0702020202120C00001112141814121100001010101010101F0000111B151511111100001111191513111100000E11111111110E0000" + // JKLMNO
        "1E11111E10101000000E11111115120D00001E11111E14121100000F10100E01011E00001F04040404040400001111111111110E0000" + // PQRSTU
        "11111111110A0400001111111515150A000011110A040A1111000011110A0404040400001F01020408101F00000E08080808080E0000" + // VWXYZ[
        "0010080402010000000E02020202020E0000040A110000000000000000000000001F000008040000000000000000000E010F110F0000" + // \]^_`a
        "1010161911111E000000000E1010110E000001010D1311110F000000000E111F100E00000609081C080808000000000F1111110F010E" + // bcdefg
        "10101619111111000004000C0404040E000002000602020202120C1010121418141200000C04040404040E000000001A151511110000" + // hijklm
        "00001619111111000000000E1111110E000000001E1111111E101000000F1111110F010100001619101010000000000E100E011E0000" + // nopqrs
        "08081C0808090600000000111111130D000000001111110A0400000000111115150A00000000110A040A1100000000111111110F010E" + // tuvwxy
        "00001F0204081F0000020404080404020000040404040404040000080404020404080000000008150200000000"; // z{|}~

    private static readonly byte[] Rows = Convert.FromHexString(Glyphs);

    /// <summary>Width in pixels of <paramref name="text"/> drawn at <paramref name="scale"/> (no trailing spacing).</summary>
    public static int MeasureWidth(string text, int scale = 1) => text.Length == 0 ? 0 : (text.Length * Advance - 1) * scale;

    public static int Height(int scale = 1) => GlyphHeight * scale;

    /// <summary>True if pixel (col, row) of the glyph for <paramref name="ch"/> is set.</summary>
    public static bool IsSet(char ch, int col, int row)
    {
        int g = ch is >= ' ' and <= '~' ? ch - ' ' : '?' - ' ';
        return (Rows[g * GlyphHeight + row] >> (GlyphWidth - 1 - col) & 1) != 0;
    }

    /// <summary>Draws <paramref name="text"/> with its top-left corner at (x, y), clipped to the image.</summary>
    public static void Draw(RgbImage image, string text, int x, int y, (byte R, byte G, byte B) color, int scale = 1)
    {
        if (scale < 1) throw new ArgumentException($"font scale must be >= 1, got {scale}");
        for (int i = 0; i < text.Length; i++)
            for (int row = 0; row < GlyphHeight; row++)
                for (int col = 0; col < GlyphWidth; col++)
                {
                    if (!IsSet(text[i], col, row)) continue;
                    int px = x + (i * Advance + col) * scale, py = y + row * scale;
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                        {
                            int xx = px + dx, yy = py + dy;
                            if (xx >= 0 && yy >= 0 && xx < image.Width && yy < image.Height) image.SetPixel(xx, yy, color.R, color.G, color.B);
                        }
                }
    }
}
