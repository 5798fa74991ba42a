using AptLab.Wan.Clip;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan.Clip;

/// <summary>The two bicubic resizes of the CLIP encoder, the image resize and the position-table interpolation,
/// against a scalar implementation of PyTorch's definition (Keys cubic convolution with A = −0.75, source coordinate
/// (dst + 0.5)·in/out − 0.5, the 4 taps clamped to the border, no antialiasing), upsampling and downsampling.</summary>
public class ClipResizeTests
{
    private static double Keys(double x, double a = -0.75)
    {
        x = Math.Abs(x);
        return x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a : 0;
    }

    /// <summary>Bicubic resize of one plane [inH, inW] to [outH, outW], separable, in float64.</summary>
    private static double[,] Bicubic(double[,] src, int outH, int outW)
    {
        int inH = src.GetLength(0), inW = src.GetLength(1);
        var dst = new double[outH, outW];
        for (int oy = 0; oy < outH; oy++)
            for (int ox = 0; ox < outW; ox++)
            {
                double sy = (oy + 0.5) * inH / outH - 0.5, sx = (ox + 0.5) * inW / outW - 0.5;
                int iy = (int)Math.Floor(sy), ix = (int)Math.Floor(sx);
                double acc = 0;
                for (int m = -1; m <= 2; m++)
                    for (int n = -1; n <= 2; n++)
                    {
                        int y = Math.Clamp(iy + m, 0, inH - 1), x = Math.Clamp(ix + n, 0, inW - 1);
                        acc += Keys(sy - (iy + m)) * Keys(sx - (ix + n)) * src[y, x];
                    }
                dst[oy, ox] = acc;
            }
        return dst;
    }

    private static double[,] Plane(Tensor t)   // t: [H, W]
    {
        var v = t.to(ScalarType.Float64).contiguous().data<double>();
        int h = (int)t.size(0), w = (int)t.size(1);
        var p = new double[h, w];
        for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) p[i, j] = v[i * w + j];
        return p;
    }

    private static Tensor FromPlanes(double[][,] planes)   // → [C, H, W] float64
    {
        int c = planes.Length, h = planes[0].GetLength(0), w = planes[0].GetLength(1);
        var v = new double[c * h * w];
        for (int k = 0; k < c; k++) for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) v[(k * h + i) * w + j] = planes[k][i, j];
        return torch.tensor(v, c, h, w);
    }

    [Theory]
    [InlineData(17, 9)]     // upsampling to 28 in both directions
    [InlineData(75, 130)]   // downsampling, aspect ratio changed
    public void Image_resize_is_pytorch_bicubic_without_antialiasing(int h, int w)
    {
        using var _ = torch.NewScope();
        using var g = new Generator(21);
        var img = torch.rand([3, h, w], ScalarType.Float32, Device.CPU, g) * 2 - 1;   // [3, H, W] in [-1, 1]
        var pre = ClipPreprocess.For(ClipVisionConfig.Tiny);
        var got = pre.Resize(img);                                              // [1, 3, S, S]
        int s = ClipVisionConfig.Tiny.ImageSize;
        var want = FromPlanes(Enumerable.Range(0, 3).Select(c => Bicubic(Plane(img[c]), s, s)).ToArray()) * 0.5 + 0.5;
        Assert.True(RelErr(got[0], want) < 1e-6, $"rel err {RelErr(got[0], want)}");
        var pixels = pre.Normalize(got);
        for (int c = 0; c < 3; c++)
            Assert.True(RelErr(pixels[0][c], (got[0][c] - pre.Mean[c]) / pre.Std[c]) < 1e-6);
    }

    [Fact]
    public void Position_table_interpolation_keeps_the_class_row_and_resizes_the_grid_bicubically()
    {
        using var _ = torch.NewScope();
        using var g = new Generator(22);
        var c = ClipVisionConfig.Tiny with { ImageSize = 56 };                 // 4 × 4 grid
        var pos = torch.randn([1, c.NumTokens, c.Dim], ScalarType.Float32, Device.CPU, g);
        Assert.Equal(0.0, MaxAbs(VisionTransformer.PosInterpolate(pos, 1, 4, 4), pos));   // same grid: unchanged

        var up = VisionTransformer.PosInterpolate(pos, 1, 6, 6);                 // [1, 1 + 36, dim]
        Assert.Equal(new long[] { 1, 37, c.Dim }, up.shape);
        Assert.Equal(0.0, MaxAbs(up.narrow(1, 0, 1), pos.narrow(1, 0, 1)));
        var grid = pos[0].narrow(0, 1, 16).transpose(0, 1).reshape(c.Dim, 4, 4);   // [dim, 4, 4]
        var want = FromPlanes(Enumerable.Range(0, c.Dim).Select(d => Bicubic(Plane(grid[d]), 6, 6)).ToArray());   // [dim, 6, 6]
        var got = up[0].narrow(0, 1, 36).transpose(0, 1).reshape(c.Dim, 6, 6);
        Assert.True(RelErr(got, want) < 1e-6, $"rel err {RelErr(got, want)}");

        // The tower takes a larger image with interpolation (1 + 36 tokens), and refuses it without.
        using var vt = new VisionTransformer(c, generator: g);
        var big = torch.randn([1, 3, 84, 84], ScalarType.Float32, Device.CPU, g);
        Assert.Equal(new long[] { 1, 37, c.Dim }, vt.forward(big, interpolation: true, use31Block: true).shape);
        var e = Assert.Throws<ArgumentException>(() => vt.forward(big));
        Assert.Contains("84x84", e.Message);
    }

    private static double MaxAbs(Tensor a, Tensor b)
    {
        using var _ = torch.NewScope();
        Assert.Equal(b.shape, a.shape);
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }
}
