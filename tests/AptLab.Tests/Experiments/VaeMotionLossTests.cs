using AptLab.Experiments;

namespace AptLab.Tests.Experiments;

/// <summary>The VAE's motion term (docs/omnihuman.md#the-study): the MSE of consecutive-frame differences. A
/// reconstruction off by a constant is free of it; one frame off by δ costs δ² on each of its two differences.</summary>
public class VaeMotionLossTests
{
    [Fact]
    public void The_motion_term_sees_changes_between_frames_not_offsets()
    {
        using var scope = torch.NewScope();
        using var g = new Generator(3);
        var x = torch.randn([2, 3, 5, 4, 4], ScalarType.Float64, generator: g);          // [B, 3, T, H, W]
        Assert.Equal(0, VaeStage.MotionLoss(x + 0.7, x).item<double>(), 12);             // a constant offset does not move
        var rec = x.clone();
        rec.narrow(2, 2, 1).add_(0.3);                                                   // frame 2 off by δ = 0.3
        // 4 differences per pixel; two of them (2-1 and 3-2) are off by ±δ: mean δ² · 2/4
        Assert.Equal(0.3 * 0.3 * 2 / 4, VaeStage.MotionLoss(rec, x).item<double>(), 12);
        var last = x.clone();
        last.narrow(2, 4, 1).add_(0.3);                                                  // the last frame has one difference
        Assert.Equal(0.3 * 0.3 / 4, VaeStage.MotionLoss(last, x).item<double>(), 12);
        var noisy = x + torch.randn([2, 3, 5, 4, 4], ScalarType.Float64, generator: g);
        var d = (noisy - x);
        var diff = d.narrow(2, 1, 4) - d.narrow(2, 0, 4);
        Assert.Equal(diff.square().mean().item<double>(), VaeStage.MotionLoss(noisy, x).item<double>(), 12);
    }
}
