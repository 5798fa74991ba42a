using AptLab.Data.Media;

namespace AptLab.Tests.Media;

public class ImageGridTests
{
    [Fact]
    public void GlyphBitsOfKnownCharacters()
    {
        // 'A': .###. / #...# / #...# / ##### / #...# / #...# / #...#
        string[] a = [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#", ".....", "....."];
        for (int r = 0; r < BitmapFont.GlyphHeight; r++)
            for (int c = 0; c < BitmapFont.GlyphWidth; c++)
                Assert.Equal(a[r][c] == '#', BitmapFont.IsSet('A', c, r));
        Assert.True(BitmapFont.IsSet('p', 0, 8));                                  // descender row
        for (int r = 0; r < BitmapFont.GlyphHeight; r++)
            for (int c = 0; c < BitmapFont.GlyphWidth; c++) Assert.False(BitmapFont.IsSet(' ', c, r));
        Assert.Equal(BitmapFont.IsSet('?', 0, 0), BitmapFont.IsSet('\u00e9', 0, 0));   // non-ASCII drawn as '?'
        Assert.Equal(6 * 16 - 1, BitmapFont.MeasureWidth("teacher 25 steps"));
    }

    [Fact]
    public void TileLayoutPlacesEachFrame()
    {
        var tiles = Enumerable.Range(0, 5).Select(i => RgbImage.Solid(10, 6, (byte)(i * 50), 7, 9)).ToList();
        var g = ImageGrid.Tile(tiles, columns: 3, margin: 2);
        Assert.Equal((2 + 3 * 12, 2 + 2 * 8), (g.Width, g.Height));
        for (int i = 0; i < 5; i++)
        {
            int x = 2 + i % 3 * 12, y = 2 + i / 3 * 8;
            Assert.Equal((byte)(i * 50), g.Pixels[g.Index(x + 9, y + 5)]);          // bottom-right pixel of tile i
            Assert.Equal(255, g.Pixels[g.Index(x + 10, y)]);                        // the margin right of it
        }
        Assert.Equal(255, g.Pixels[g.Index(2 + 2 * 12 + 5, 2 + 8 + 3)]);            // the empty sixth cell
    }

    [Fact]
    public void ContactSheetCaptionsRowsInDarkPixels()
    {
        var frames = Enumerable.Range(0, 4).Select(_ => RgbImage.Solid(16, 12, 200, 30, 30)).ToList();
        var sheet = ImageGrid.ContactSheet([("teacher 25 steps", frames), ("APT 1 step", frames)], margin: 4, fontScale: 2);
        int capH = 9 * 2 + 2 + 2;
        Assert.Equal(4 + 2 * (capH + 12 + 4), sheet.Height);
        Assert.Equal(Math.Max(4 + 4 * 20, 8 + BitmapFont.MeasureWidth("teacher 25 steps", 2)), sheet.Width);
        // 'A' of "APT" at (4, 4 + capH + 12 + 4 + 1): its top row is .###. so column 0 is blank, columns 1-3 are ink.
        int y0 = 4 + capH + 12 + 4 + 1;
        Assert.Equal(255, sheet.Pixels[sheet.Index(4, y0)]);
        Assert.Equal(0, sheet.Pixels[sheet.Index(4 + 2, y0)]);
        Assert.Equal(0, sheet.Pixels[sheet.Index(4 + 3, y0 + 1)]);                // scale 2: 2x2 blocks
        Assert.Equal(200, sheet.Pixels[sheet.Index(4, 4 + capH)]);                  // first frame below the caption
    }

    [Fact]
    public void PadToEvenRepeatsTheEdge()
    {
        var img = new RgbImage(3, 3);
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)i;
        var p = img.PadToEven();
        Assert.Equal((4, 4), (p.Width, p.Height));
        Assert.Equal(img.Pixels[img.Index(2, 1)..(img.Index(2, 1) + 3)], p.Pixels[p.Index(3, 1)..(p.Index(3, 1) + 3)]);
        Assert.Equal(img.Pixels[img.Index(1, 2)..(img.Index(1, 2) + 3)], p.Pixels[p.Index(1, 3)..(p.Index(1, 3) + 3)]);
    }

    [Fact]
    public void PlanarFloatConversionRoundsAndClamps()
    {
        float[] chw = [-1f, 0f, 1f, 2f, /*G*/ 0f, 0f, 0f, 0f, /*B*/ 1f, 1f, 1f, 1f];
        var img = RgbImage.FromPlanar(chw, 3, 2, 2, low: -1, high: 1);
        Assert.Equal([0, 128, 255, 255], new[] { img.Pixels[0], img.Pixels[3], img.Pixels[6], img.Pixels[9] });
        Assert.Equal(255, img.Pixels[2]);
        var back = img.ToPlanar(-1, 1);
        Assert.Equal(-1f, back[0]);
        Assert.Equal(1f, back[8], 5);
    }

    [Fact]
    public void TensorToImage()
    {
        using var scope = torch.NewScope();
        var t = torch.tensor(new float[] { 0f, 0.5f, 1f, 1f, /*G*/ 0f, 0f, 0f, 0f, /*B*/ 1f, 1f, 1f, 1f }, 3, 2, 2);
        var img = TensorImages.ToImage(t);
        Assert.Equal([0, 128, 255, 255], new[] { img.Pixels[0], img.Pixels[3], img.Pixels[6], img.Pixels[9] });
        var back = TensorImages.ToTensor(img);
        Assert.Equal([3L, 2, 2], back.shape);
        Assert.Equal(128 / 255f, back.data<float>()[1], 6);
        var frames = TensorImages.ToFrames(torch.zeros(3, 4, 2, 2));
        Assert.Equal(4, frames.Count);
        Assert.All(frames, f => Assert.All(f.Pixels, p => Assert.Equal(128, p)));   // 0 in -1..1 maps to 127.5 -> 128
    }
}
