using AptLab.Data.Synthetic;
using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

public class VideoFeaturesTests
{
    [Fact]
    public void Appearance_is_the_frame_average_and_single_frames_have_no_motion()
    {
        using var scope = torch.NewScope();
        var clips = new MovingShapes(32, 3, 4).Batch(0, 5).pixels;                  // [5, 3, 3, 32, 32]
        var f = VideoFeatures.Compute(clips);
        Assert.Equal([5L, VideoFeatures.Dim], f.shape);
        Assert.Equal(147, VideoFeatures.Dim);
        var perFrame = Enumerable.Range(0, 3).Select(t => ImageFeatures.Compute(clips.select(2, t))).ToList();
        var mean = ((perFrame[0] + perFrame[1] + perFrame[2]) / 3.0).data<double>();
        var appearance = f.narrow(1, 0, ImageFeatures.Dim).contiguous().data<double>();
        Assert.All(mean.Zip(appearance), p => Assert.Equal(p.First, p.Second, 5));
        Assert.True(f.narrow(1, ImageFeatures.Dim, 22).abs().sum().item<double>() > 1);
        var still = VideoFeatures.Compute(clips.narrow(2, 0, 1));
        Assert.Equal(0.0, still.narrow(1, ImageFeatures.Dim, 22).abs().sum().item<double>());
    }

    [Fact]
    public void Global_flow_recovers_a_known_translation()
    {
        using var scope = torch.NewScope();
        // A Gaussian blob (std 4 px) moving by (+1.0, -0.5) px per frame over 4 frames.
        int s = 32, T = 4;
        var px = new float[3 * T * s * s];
        for (int t = 0; t < T; t++)
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    double cx = 14 + 1.0 * t, cy = 17 - 0.5 * t;
                    float v = (float)(2 * Math.Exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 32) - 1);
                    for (int c = 0; c < 3; c++) px[((c * T + t) * s + y) * s + x] = v;
                }
        var flow = VideoFeatures.GlobalFlow(torch.tensor(px, 1, 3, T, s, s)).data<double>();   // [1, 3, 2]
        for (int t = 0; t < T - 1; t++)
        {
            Assert.InRange(flow[2 * t], 0.9, 1.05);
            Assert.InRange(flow[2 * t + 1], -0.53, -0.45);
        }
    }

    [Fact]
    public void Flow_follows_the_named_direction_of_real_clips()
    {
        using var scope = torch.NewScope();
        var data = new MovingShapes(32, 5, 8);
        var (clips, captions) = data.Batch(0, 24);
        var flow = VideoFeatures.GlobalFlow(clips).mean(1).data<double>();                     // [24, 2]
        for (int i = 0; i < 24; i++)
        {
            double u = flow[2 * i], v = flow[2 * i + 1];
            var (eu, ev) = captions[i].Split(' ')[^1] switch { "left" => (-1, 0), "right" => (1, 0), "up" => (0, -1), _ => (0, 1) };
            // True speed 0.06 * 32 = 1.92 px/frame (shapes stop at the border, so some clips move less).
            Assert.True(u * eu + v * ev > 0.9 && Math.Abs(u * ev - v * eu) < 0.3, $"{captions[i]}: flow ({u:F2}, {v:F2})");
        }
    }

    [Fact]
    public void Frozen_clips_are_far_from_real_motion()
    {
        using var scope = torch.NewScope();
        int n = 128, s = 32, T = 3;                       // FD's small-sample bias falls as 1/n: n = 64 leaves a ratio of only ~2.7
        var data = new MovingShapes(s, T, 3);
        var real = VideoFeatures.Compute(data.Batch(0, n).pixels);
        var second = data.Batch(100_000, n).pixels;
        var frozen = second.narrow(2, 0, 1).expand(n, 3, T, s, s).contiguous();
        double baseline = FrechetDistance.Compute(real, VideoFeatures.Compute(second));
        double fd = FrechetDistance.Compute(real, VideoFeatures.Compute(frozen));
        Assert.True(fd > 4 * baseline, $"FD(frozen) {fd} vs FD(real2) {baseline}");
    }
}
