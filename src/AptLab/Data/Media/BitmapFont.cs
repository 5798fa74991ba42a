namespace AptLab.Data.Media;

/// <summary>
/// A 5x7 pixel bitmap font for printable ASCII (32..126), drawn on a 6x8 cell (one column and one row of
/// spacing), so contact sheets can carry captions without any font library. Characters outside the range
/// are drawn as '?'.
/// </summary>
public static class BitmapFont
{
    public const int GlyphWidth = 5, GlyphHeight = 7, Advance = 6;

    // 95 glyphs x 7 rows, each row two hex digits whose low 5 bits are the pixels (bit 4 = leftmost column).
    private const string Glyphs =
        "00000000000000040404040400040A0A00000000000A0A1F0A1F0A0A040F140E051E04181902040813030C12140815120D04040000000000" + //  !"#$%&'
        "02040808080402080402020204080004150E1504000004041F040400000000000C04080000001F00000000000000000C0C00010204081000" + // ()*+,-./
        "0E11131519110E040C040404040E0E11010204081F1F02040201110E02060A121F02021F101E0101110E0608101E11110E1F010204080808" + // 01234567
        "0E11110E11110E0E11110F01020C000C0C000C0C00000C0C000C04080204081008040200001F001F0000080402010204080E110102040004" + // 89:;<=>?
        "0E11010D15150E0E11111F1111111E11111E11111E0E11101010110E1C12111111121C1F10101E10101F1F10101E1010100E11101711110F" + // @ABCDEFG
        "1111111F1111110E04040404040E0702020202120C111214181412111010101010101F111B1515111111111119151311110E11111111110E" + // HIJKLMNO
        "1E11111E1010100E11111115120D1E11111E1412110F10100E01011E1F0404040404041111111111110E11111111110A041111111515150A" + // PQRSTUVW
        "11110A040A111111110A040404041F01020408101F0E08080808080E001008040201000E02020202020E040A11000000000000000000001F" + // XYZ[\]^_
        "0804000000000000000E010F110F1010161911111E00000E1010110E01010D1311110F00000E111F100E0609081C080808000F11110F010E" + // `abcdefg
        "1010161911111104000C0404040E0200060202120C101012141814120C04040404040E00001A151511110000161911111100000E1111110E" + // hijklmno
        "00001E111E101000000D130F01010000161910101000000E100E011E08081C080809060000111111130D00001111110A040000111115150A" + // pqrstuvw
        "0000110A040A11000011110F010E00001F0204081F02040408040402040404040404040804040204040800000815020000"; // xyz{|}~

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
