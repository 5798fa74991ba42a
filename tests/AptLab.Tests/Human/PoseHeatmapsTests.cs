using AptLab.Human.Pose;
using AptLab.Torch;
using Xunit;

namespace AptLab.Tests.Human;

public class PoseHeatmapsTests
{
    /// <summary>Every heatmap value against the closed form, computed point by point: channel c at pixel (i, j) is the
    /// maximum over the detected points p of channel c (<see cref="PoseHeatmaps.ChannelOf"/>) of
    /// exp(-((j + 0.5 - x W)² + (i + 0.5 - y H)²) / (2σ²)), 0 without one; on a non-square frame (catches x and y swapped),
    /// with undetected points (score under 0.3), and rendered in one chunk and in chunks of one frame.</summary>
    [Fact]
    public void Heatmaps_equal_the_closed_form_in_one_chunk_and_frame_by_frame()
    {
        using var _ = torch.NewScope();
        int b = 2, t = 3, h = 5, w = 7, k = WholeBodyKeypoints.Count;
        double sigma = 1.3;
        using var g = new Generator(3);
        var kp = torch.rand([b, t, k, 3], generator: g);
        var v = kp.contiguous().data<float>();
        var want = new float[b * PoseHeatmaps.Channels * t * h * w];
        for (int n = 0; n < b; n++)
            for (int f = 0; f < t; f++)
                for (int p = 0; p < k; p++)
                {
                    int o = ((n * t + f) * k + p) * 3;
                    if (v[o + 2] < PoseHeatmaps.ScoreThreshold) continue;
                    int c = PoseHeatmaps.ChannelOf(p);
                    for (int i = 0; i < h; i++)
                        for (int j = 0; j < w; j++)
                        {
                            double dx = j + 0.5 - v[o] * w, dy = i + 0.5 - v[o + 1] * h;
                            float val = (float)Math.Exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
                            int q = (((n * PoseHeatmaps.Channels + c) * t + f) * h + i) * w + j;
                            want[q] = Math.Max(want[q], val);
                        }
                }
        Assert.Contains(v.Where((_, i) => i % 3 == 2), s => s < PoseHeatmaps.ScoreThreshold);
        foreach (long chunk in new[] { PoseHeatmaps.ChunkElements, (long)b * k * h * w })
        {
            var got = PoseHeatmaps.Render(kp, h, w, sigma, chunk);
            Assert.Equal(new long[] { b, PoseHeatmaps.Channels, t, h, w }, got.shape);
            var gv = got.contiguous().data<float>();
            double err = gv.Zip(want, (x, y) => Math.Abs(x - y)).Max();
            Assert.True(err < 1e-5, $"chunk {chunk}: max |error| {err}");
        }
    }
}
