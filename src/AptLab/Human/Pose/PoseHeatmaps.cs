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

    /// <summary>Per-point maps held at once while rendering (elements; 256 MB of float32): frames are rendered in chunks of
    /// at most this many B·133·H·W maps.</summary>
    public const long ChunkElements = 1L << 26;

    /// <summary>keypoints [B, T, 133, 3] (normalised x, y, score) -> heatmaps [B, 26, T, H, W] (float32, in [0, 1]).
    /// Rendered a chunk of frames at a time (<see cref="ChunkElements"/>): one frame's 133 maps at 480x832 and batch 1 are
    /// 53 M values, a small clip's whole sequence fits in one chunk.</summary>
    public static Tensor Render(Tensor keypoints, int height, int width, double sigmaPixels, long chunkElements = ChunkElements)
    {
        if (keypoints.dim() != 4 || keypoints.size(2) != WholeBodyKeypoints.Count || keypoints.size(3) != 3)
            throw new ArgumentException($"PoseHeatmaps: keypoints must be [B, T, {WholeBodyKeypoints.Count}, 3], got [{string.Join(", ", keypoints.shape)}]");
        if (height < 1 || width < 1) throw new ArgumentException($"PoseHeatmaps: size {height}x{width} must be positive");
        if (!(sigmaPixels > 0)) throw new ArgumentException($"PoseHeatmaps: sigma must be positive, got {sigmaPixels}");
        using var scope = torch.NewScope();
        long b = keypoints.size(0), t = keypoints.size(1), k = WholeBodyKeypoints.Count;
        var kp = keypoints.to(ScalarType.Float32);
        var dev = kp.device;
        var gx = (torch.arange(width, ScalarType.Float32, dev) + 0.5).view(1, 1, 1, 1, width);    // pixel centres
        var gy = (torch.arange(height, ScalarType.Float32, dev) + 0.5).view(1, 1, 1, height, 1);
        long chunk = Math.Clamp(chunkElements / Math.Max(1, b * k * height * width), 1, Math.Max(1, t));
        var parts = new List<Tensor>();
        for (long f0 = 0; f0 < t; f0 += chunk)
        {
            using var inner = torch.NewScope();
            long n = Math.Min(chunk, t - f0);
            var p = kp.narrow(1, f0, n);                                                          // [B, n, 133, 3]
            var x = (p.select(3, 0) * width).view(b, n, k, 1, 1);
            var y = (p.select(3, 1) * height).view(b, n, k, 1, 1);
            var on = p.select(3, 2).ge(ScoreThreshold).to(ScalarType.Float32).view(b, n, k, 1, 1);
            double a = -0.5 / (sigmaPixels * sigmaPixels);                                       // the Gaussian is separable:
            var ex = ((gx - x).square() * a).exp() * on;                                          // [B, n, 133, 1, W]
            var ey = ((gy - y).square() * a).exp();                                               // [B, n, 133, H, 1]
            var maps = ey * ex;                                                                   // [B, n, 133, H, W]
            parts.Add(inner.Keep(torch.cat(
            [
                maps.narrow(2, 0, WholeBodyKeypoints.FaceStart),                                  // body and feet: a channel each
                Part(maps, WholeBodyKeypoints.FaceStart, WholeBodyKeypoints.LeftHandStart),
                Part(maps, WholeBodyKeypoints.LeftHandStart, WholeBodyKeypoints.RightHandStart),
                Part(maps, WholeBodyKeypoints.RightHandStart, WholeBodyKeypoints.Count),
            ], 2)));                                                                              // [B, n, 26, H, W]
        }
        return scope.Keep(torch.cat(parts, 1).permute(0, 2, 1, 3, 4).contiguous());             // [B, 26, T, H, W]
    }

    /// <summary>The channel of keypoints [start, end) (one of <see cref="ChannelOf"/>'s shared ones): their maps' maximum.</summary>
    private static Tensor Part(Tensor maps, int start, int end) => maps.narrow(2, start, end - start).amax([2], keepdim: true);

    /// <summary>Heatmaps of one sequence: [26, T, H, W].</summary>
    public static Tensor Render(WholeBodyKeypoints keypoints, int height, int width, double sigmaPixels)
    {
        using var scope = torch.NewScope();
        return scope.Keep(Render(keypoints.ToTensor().unsqueeze(0), height, width, sigmaPixels).squeeze(0));
    }
}
