namespace AptLab.Human.Pose;

/// <summary>
/// Rasterises whole-body keypoints into Gaussian heatmaps at pixel resolution, the pose guider's input
/// (docs/omnihuman.md#pose). One channel per body and foot keypoint (23: they carry the skeleton's layout) and one each
/// for the face, the left and the right hand (the 68 + 21 + 21 points of a part share its channel, max-pooled):
/// 26 channels in all. Channel value at pixel centre (i + 0.5, j + 0.5):
/// <c>max over the channel's detected points p of exp(-|pixel - p|² / (2σ²))</c>, σ in pixels; a point is detected
/// when its score is at least <see cref="ScoreThreshold"/>. Per-keypoint maps for all 133 points would be 5x the memory
/// (at 480x832 and 81 frames the 26 channels already hold 0.8 G values); the grouping keeps body-part identity.
/// </summary>
public static class PoseHeatmaps
{
    public const int Channels = WholeBodyKeypoints.FeetStart + 6 + 3;
    /// <summary>DWPose's usual visibility threshold.</summary>
    public const float ScoreThreshold = 0.3f;

    /// <summary>The heatmap channel of keypoint <paramref name="k"/>.</summary>
    public static int ChannelOf(int k) => k switch
    {
        < WholeBodyKeypoints.FaceStart => k,
        < WholeBodyKeypoints.LeftHandStart => WholeBodyKeypoints.FaceStart,
        < WholeBodyKeypoints.RightHandStart => WholeBodyKeypoints.FaceStart + 1,
        < WholeBodyKeypoints.Count => WholeBodyKeypoints.FaceStart + 2,
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, $"keypoint index must be < {WholeBodyKeypoints.Count}"),
    };

    /// <summary>keypoints [B, T, 133, 3] (normalised x, y, score) -> heatmaps [B, 26, T, H, W] (float32, in [0, 1]).
    /// Rendered frame by frame, so memory is one frame's 133 maps at a time.</summary>
    public static Tensor Render(Tensor keypoints, int height, int width, double sigmaPixels)
    {
        if (keypoints.dim() != 4 || keypoints.size(2) != WholeBodyKeypoints.Count || keypoints.size(3) != 3)
            throw new ArgumentException($"PoseHeatmaps: keypoints must be [B, T, {WholeBodyKeypoints.Count}, 3], got [{string.Join(", ", keypoints.shape)}]");
        if (height < 1 || width < 1) throw new ArgumentException($"PoseHeatmaps: size {height}x{width} must be positive");
        if (!(sigmaPixels > 0)) throw new ArgumentException($"PoseHeatmaps: sigma must be positive, got {sigmaPixels}");
        using var scope = torch.NewScope();
        long b = keypoints.size(0), t = keypoints.size(1);
        var kp = keypoints.to(ScalarType.Float32);
        var dev = kp.device;
        var gx = (torch.arange(width, ScalarType.Float32, dev) + 0.5).view(1, 1, 1, width);       // pixel centres
        var gy = (torch.arange(height, ScalarType.Float32, dev) + 0.5).view(1, 1, height, 1);
        var groups = Groups(dev);
        var frames = new List<Tensor>((int)t);
        for (long f = 0; f < t; f++)
        {
            using var inner = torch.NewScope();
            var p = kp.select(1, f);                                                              // [B, 133, 3]
            var x = (p.select(2, 0) * width).view(b, -1, 1, 1);
            var y = (p.select(2, 1) * height).view(b, -1, 1, 1);
            var on = p.select(2, 2).ge(ScoreThreshold).to(ScalarType.Float32).view(b, -1, 1, 1);
            var g = ((gx - x).square() + (gy - y).square()) * (-0.5 / (sigmaPixels * sigmaPixels));
            var maps = g.exp() * on;                                                              // [B, 133, H, W]
            var channels = groups.Select(ix => maps.index_select(1, ix).amax([1], keepdim: true)).ToList();
            frames.Add(inner.Keep(torch.cat(channels, 1)));                                        // [B, 26, H, W]
        }
        return scope.Keep(torch.stack(frames, 2));                                                  // [B, 26, T, H, W]
    }

    /// <summary>Heatmaps of one sequence: [26, T, H, W].</summary>
    public static Tensor Render(WholeBodyKeypoints keypoints, int height, int width, double sigmaPixels)
    {
        using var scope = torch.NewScope();
        return scope.Keep(Render(keypoints.ToTensor().unsqueeze(0), height, width, sigmaPixels).squeeze(0));
    }

    /// <summary>The keypoint indices of each channel.</summary>
    private static List<Tensor> Groups(Device dev) => Enumerable.Range(0, Channels)
        .Select(c => torch.tensor(Enumerable.Range(0, WholeBodyKeypoints.Count).Where(k => ChannelOf(k) == c).Select(k => (long)k).ToArray(),
            Enumerable.Range(0, WholeBodyKeypoints.Count).Count(k => ChannelOf(k) == c)).to(dev)).ToList();
}
