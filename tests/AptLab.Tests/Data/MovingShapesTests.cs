using AptLab.Data.Synthetic;

namespace AptLab.Tests.Data;

public class MovingShapesTests
{
    [Fact]
    public void Samples_are_deterministic_and_match_their_captions()
    {
        var data = new MovingShapes(size: 32, frames: 5, seed: 11);
        Assert.Equal(data.Get(3).Pixels, new MovingShapes(32, 5, 11).Get(3).Pixels);
        Assert.NotEqual(data.Get(3).Pixels, data.Get(4).Pixels);
        int n = 32 * 32;
        for (int i = 0; i < 40; i++)
        {
            var s = data.Get(i);
            var article = MovingShapes.Colours[s.Colour] == "orange" ? "an" : "a";
            Assert.Equal($"{article} {MovingShapes.Colours[s.Colour]} {MovingShapes.ShapeNames[s.Shape]} moving {MovingShapes.Directions[s.Direction]}", s.Caption);
            Assert.All(s.Pixels, v => Assert.InRange(v, -1f, 1f));
            // The centroid of the shape (pixels far from the background level) moves in the named direction.
            double bg = s.Pixels[0];
            (double x, double y) Centroid(int t)
            {
                double sx = 0, sy = 0, w = 0;
                for (int p = 0; p < n; p++)
                {
                    double d = Enumerable.Range(0, 3).Sum(c => Math.Abs(s.Pixels[(c * 5 + t) * n + p] - s.Pixels[(c * 5 + t) * n]));
                    if (d > 0.3) { sx += p % 32; sy += p / 32; w++; }
                }
                return (sx / w, sy / w);
            }
            var (x0, y0) = Centroid(0);
            var (x4, y4) = Centroid(4);
            var (dx, dy) = (x4 - x0, y4 - y0);
            switch (MovingShapes.Directions[s.Direction])
            {
                case "left": Assert.True(dx < -2 && Math.Abs(dy) < 1, s.Caption); break;
                case "right": Assert.True(dx > 2 && Math.Abs(dy) < 1, s.Caption); break;
                case "up": Assert.True(dy < -2 && Math.Abs(dx) < 1, s.Caption); break;
                default: Assert.True(dy > 2 && Math.Abs(dx) < 1, s.Caption); break;
            }
        }
    }

    [Fact]
    public void Batches_are_tensors_of_clips()
    {
        using var _ = torch.NewScope();
        var (pixels, captions) = new MovingShapes(16, 1, 2).Batch(10, 4);
        Assert.Equal(new long[] { 4, 3, 1, 16, 16 }, pixels.shape);
        Assert.Equal(new MovingShapes(16, 1, 2).Get(12).Caption, captions[2]);
    }
}
