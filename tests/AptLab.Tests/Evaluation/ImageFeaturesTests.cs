using AptLab.Data.Synthetic;
using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

/// <summary>Features of two independent real MovingShapes sets (256 images, 32x32), computed once for the class.</summary>
public sealed class RealShapesFixture
{
    public const int N = 256, Size = 32;
    public double[,] Real { get; }
    public double[,] Real2 { get; }
    public float[] Real2Pixels { get; }                          // [N, 3, H, W]

    public RealShapesFixture()
    {
        using var scope = torch.NewScope();
        var data = new MovingShapes(Size, 1, seed: 3);
        var a = data.Batch(0, N).pixels.select(2, 0);
        var b = data.Batch(100_000, N).pixels.select(2, 0).contiguous();
        Real = FrechetDistance.ToArray(ImageFeatures.Compute(a));
        Real2 = FrechetDistance.ToArray(ImageFeatures.Compute(b));
        Real2Pixels = b.data<float>();
    }
}

public class ImageFeaturesTests(RealShapesFixture real) : IClassFixture<RealShapesFixture>
{
    private const int N = RealShapesFixture.N, S = RealShapesFixture.Size;

    private static double[] Block(Tensor features, string name, int row = 0)
    {
        var b = ImageFeatures.Block(name);
        return (features.select(0, row).narrow(0, b.Offset, b.Length) / b.Weight).data<double>();
    }

    /// <summary>FD of a transformed second real set to the first, relative to FD(real2, real).</summary>
    private double RelativeFd(Func<Tensor, Tensor> transform)
    {
        using var scope = torch.NewScope();
        var x = transform(torch.tensor(real.Real2Pixels, N, 3, S, S));
        double baseline = FrechetDistance.Compute(real.Real, real.Real2);
        return FrechetDistance.Compute(real.Real, FrechetDistance.ToArray(ImageFeatures.Compute(x))) / baseline;
    }

    [Fact]
    public void Shape_blocks_and_determinism()
    {
        using var scope = torch.NewScope();
        Assert.Equal(125, ImageFeatures.Dim);
        Assert.Equal(ImageFeatures.Dim, ImageFeatures.Blocks.Sum(b => b.Length));
        var x = new MovingShapes(32, 1, 9).Batch(0, 10).pixels.select(2, 0);
        var f = ImageFeatures.Compute(x);
        Assert.Equal([10L, 125], f.shape);
        Assert.Equal(ScalarType.Float64, f.dtype);
        Assert.Equal(f.data<double>(), ImageFeatures.Compute(x).data<double>());                 // deterministic
        var chunked = ImageFeatures.Compute(x, chunk: 3).data<double>();                          // independent of batching
        Assert.All(f.data<double>().Zip(chunked), p => Assert.Equal(p.First, p.Second, 5));
        Assert.Throws<ArgumentException>(() => ImageFeatures.Compute(torch.zeros(2, 3, 8, 8)));
        Assert.Throws<ArgumentException>(() => ImageFeatures.Compute(torch.zeros(2, 1, 32, 32)));
    }

    [Fact]
    public void Solid_colour_has_the_analytic_features()
    {
        using var scope = torch.NewScope();
        // Pure red in [-1, 1] is the palette colour (1, -1, -1).
        var x = torch.tensor(new float[] { 1, -1, -1 }, 1, 3, 1, 1).expand(1, 3, 32, 32).contiguous();
        var f = ImageFeatures.Compute(x);
        var layout = Block(f, "colour_layout");
        for (int c = 0; c < 3; c++) Assert.All(layout.Skip(16 * c).Take(16), v => Assert.Equal(c == 0 ? 1 : -1, v, 6));
        Assert.All(Block(f, "colour_spread"), v => Assert.Equal(0, v, 6));
        Assert.All(Block(f, "gradient_stats"), v => Assert.Equal(0, v, 5));
        Assert.All(Block(f, "dog_layout"), v => Assert.Equal(0, v, 5));
        Assert.All(Block(f, "gabor_energy"), v => Assert.Equal(0, v, 5));
        // Palette weights: softmax over p of -|x - p|^2 / (2 0.35^2); |x - p|^2 counts 1 per channel one step away, 4 per channel two steps away.
        double z = 0, self = 1;
        for (int r = -1; r <= 1; r++) for (int g = -1; g <= 1; g++) for (int b = -1; b <= 1; b++)
        {
            double d2 = Math.Pow(1 - r, 2) + Math.Pow(-1 - g, 2) + Math.Pow(-1 - b, 2);
            z += Math.Exp(-d2 / (2 * 0.35 * 0.35));
        }
        var palette = Block(f, "palette_histogram");
        Assert.Equal(self / z, palette[2 * 9 + 0 * 3 + 0], 5);    // index k = 9 (r+1) + 3 (g+1) + (b+1)
        Assert.Equal(1.0, palette.Sum(), 5);
        Assert.Equal(Enumerable.Repeat(1.0 / 8, 8), Block(f, "edge_orientation").Take(8).Select(v => Math.Round(v, 6)));  // no edges: uniform
    }

    [Fact]
    public void Edge_orientation_histogram_of_a_straight_edge()
    {
        using var scope = torch.NewScope();
        // Left half -1, right half +1: every gradient points along x (theta = 0), so bin k gets max(0, cos(k pi/4))^4:
        // 1 for bin 0, 1/4 for bins 1 and 7, 0 elsewhere, normalised by 1.5.
        var px = new float[3 * 32 * 32];
        for (int i = 0; i < px.Length; i++) px[i] = i % 32 < 16 ? -1 : 1;
        var vertical = torch.tensor(px, 1, 3, 32, 32);
        double[] expected = [1 / 1.5, 0.25 / 1.5, 0, 0, 0, 0, 0, 0.25 / 1.5];
        var h = Block(ImageFeatures.Compute(vertical), "edge_orientation");
        for (int k = 0; k < 8; k++) Assert.Equal(expected[k], h[k], 4);
        // The transposed image (a horizontal edge) puts the peak in bin 4 (theta = 90 degrees).
        var hh = Block(ImageFeatures.Compute(vertical.transpose(2, 3).contiguous()), "edge_orientation");
        for (int k = 0; k < 8; k++) Assert.Equal(expected[(k + 4) % 8], hh[k], 4);
    }

    [Fact]
    public void Gabor_energy_is_tuned_to_orientation()
    {
        using var scope = torch.NewScope();
        // A grating of wavelength 4 px varying along x: orientation 0 responds with gain ~1 (edges aside), 90 degrees not at all.
        var px = new float[3 * 64 * 64];
        for (int i = 0; i < px.Length; i++) px[i] = 0.5f * MathF.Cos(2 * MathF.PI * (i % 64) / 4);
        var e = Block(ImageFeatures.Compute(torch.tensor(px, 1, 3, 64, 64)), "gabor_energy");
        Assert.InRange(e[0], 0.4, 0.55);
        Assert.True(e[2] < 0.02 * e[0], $"90-degree energy {e[2]} vs 0-degree {e[0]}");
    }

    [Fact]
    public void Blurred_set_is_farther_than_a_second_real_set()
    {
        double r = RelativeFd(x => F.avg_pool2d(F.pad(x, [1, 1, 1, 1], F.PadMode.Replicate), 3, 1));
        Assert.True(r > 2.5, $"FD(blurred) / FD(real2) = {r}");
    }

    [Fact]
    public void Mode_collapse_is_far()
    {
        double r = RelativeFd(x => x.narrow(0, 0, 1).expand(N, 3, S, S).contiguous());
        Assert.True(r > 30, $"FD(collapsed) / FD(real2) = {r}");
    }

    [Fact]
    public void Wrong_colours_are_far()
    {
        double swap = RelativeFd(x => x.flip(1));                                            // R <-> B
        Assert.True(swap > 1.5, $"FD(R/B swapped) / FD(real2) = {swap}");
        double gray = RelativeFd(x => FilterBank.Luma(x).expand(N, 3, S, S).contiguous());  // colour removed
        Assert.True(gray > 10, $"FD(grayscale) / FD(real2) = {gray}");
    }
}
