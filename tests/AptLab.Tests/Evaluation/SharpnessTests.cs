using AptLab.Data.Synthetic;
using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

public class SharpnessTests
{
    /// <summary>A gray image [1, 3, H, W] with luma f(x, y) (all three channels equal).</summary>
    private static Tensor Gray(int h, int w, Func<int, int, double> f)
    {
        var px = new double[3 * h * w];
        for (int c = 0; c < 3; c++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) px[(c * h + y) * w + x] = f(x, y);
        return torch.tensor(px, 1, 3, h, w);
    }

    [Fact]
    public void Checkerboard_has_the_analytic_values()
    {
        using var scope = torch.NewScope();
        var board = Gray(16, 20, (x, y) => (x + y) % 2 == 0 ? 0.5 : -0.5);
        Assert.Equal(64 * 0.25, Sharpness.LaplacianVariance(board)[0], 9);       // L = +-8a everywhere inside
        Assert.Equal(1.0, Sharpness.HighFrequencyRatio(board)[0], 9);             // the binomial blur removes all of it
        var flat = Gray(16, 16, (_, _) => 0.3);
        Assert.Equal(0.0, Sharpness.LaplacianVariance(flat)[0], 12);
        Assert.Equal(0.0, Sharpness.HighFrequencyRatio(flat)[0], 12);
    }

    [Fact]
    public void Grating_has_the_analytic_values()
    {
        using var scope = torch.NewScope();
        foreach (int period in new[] { 4, 8, 16 })        // (period 2 samples only the peaks: that is the checkerboard)
        {
            double w = 2 * Math.PI / period, a = 0.7;
            // Interior columns 1..32 span whole periods, so mean(cos) = 0 and mean(cos^2) = 1/2 there.
            var g = Gray(10, 34, (x, _) => a * Math.Cos(w * x));
            Assert.Equal(a * a * Math.Pow(2 - 2 * Math.Cos(w), 2) / 2, Sharpness.LaplacianVariance(g)[0], 9);
            Assert.Equal(Math.Pow((1 - Math.Cos(w)) / 2, 2), Sharpness.HighFrequencyRatio(g)[0], 9);
        }
    }

    [Fact]
    public void Drops_monotonically_as_an_image_is_blurred_more()
    {
        using var scope = torch.NewScope();
        var img = new MovingShapes(32, 1, 5).Batch(0, 4).pixels.select(2, 0);   // [4, 3, 32, 32]
        double lastLap = double.PositiveInfinity, lastHf = double.PositiveInfinity;
        foreach (double sigma in new[] { 0.0, 0.5, 1.0, 1.5, 2.5 })
        {
            var x = sigma == 0 ? img : FilterBank.FilterSame(img.reshape(12, 1, 32, 32), FilterBank.GaussianKernel(sigma)).view(4, 3, 32, 32);
            double lap = Sharpness.MeanLaplacianVariance(x), hf = Sharpness.MeanHighFrequencyRatio(x);
            Assert.True(lap < lastLap * 0.8, $"sigma {sigma}: Laplacian variance {lap} not below {lastLap}");
            Assert.True(hf < lastHf * 0.8, $"sigma {sigma}: high-frequency ratio {hf} not below {lastHf}");
            (lastLap, lastHf) = (lap, hf);
        }
    }

    [Fact]
    public void Clips_average_their_frames_and_bad_shapes_are_rejected()
    {
        using var scope = torch.NewScope();
        var board = Gray(12, 12, (x, y) => (x + y) % 2 == 0 ? 1 : -1);             // [1, 3, 12, 12]
        var clip = torch.stack([board.squeeze(0), torch.zeros([3, 12, 12], ScalarType.Float64)], 1).unsqueeze(0); // [1, 3, 2, 12, 12]
        Assert.Equal(64.0 / 2, Sharpness.LaplacianVariance(clip)[0], 9);
        Assert.Equal(64.0, Sharpness.LaplacianVariance(board * 3.0)[0], 9);         // clamped to [-1, 1] first
        var e = Assert.Throws<ArgumentException>(() => Sharpness.LaplacianVariance(torch.zeros(2, 4, 8, 8)));
        Assert.Contains("[2, 4, 8, 8]", e.Message);
    }
}
