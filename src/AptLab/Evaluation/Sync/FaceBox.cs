using AptLab.Data.Media;

namespace AptLab.Evaluation.Sync;

/// <summary>
/// The square region of every frame that SyncNet sees (docs/evaluation.md, "Sync-C and Sync-D"): upstream it comes
/// from a face detector and tracker (S3FD, crop scale 0.4); here the user gives it in pixels (<c>x,y,size</c>, top-left
/// corner), or it is the centred square of the frame, which suits talking-head samples whose face fills the frame.
/// </summary>
public sealed record FaceBox(int X, int Y, int Size)
{
    public const int CropSize = 224;

    public static FaceBox Centre(int width, int height)
    {
        int s = Math.Min(width, height);
        return new((width - s) / 2, (height - s) / 2, s);
    }

    /// <summary>Parses "x,y,size".</summary>
    public static FaceBox Parse(string text)
    {
        var p = text.Split(',', StringSplitOptions.TrimEntries);
        if (p.Length != 3 || !int.TryParse(p[0], out int x) || !int.TryParse(p[1], out int y) || !int.TryParse(p[2], out int s) || x < 0 || y < 0 || s < 1)
            throw new ArgumentException($"face box '{text}': expected x,y,size in pixels (top-left corner and side)");
        return new(x, y, s);
    }

    /// <summary>SyncNet's lip input [1, 3, T, 224, 224]: the box of every frame resized bilinearly to 224, raw 0..255
    /// values in BGR order (cv2's, which syncnet_v2.model was trained on).</summary>
    public Tensor Crops(IReadOnlyList<RgbImage> frames)
    {
        if (frames.Count == 0) throw new ArgumentException("Sync: no frames");
        var f0 = frames[0];
        if (X + Size > f0.Width || Y + Size > f0.Height)
            throw new ArgumentException($"face box {X},{Y},{Size} does not fit the {f0.Width}x{f0.Height} frames");
        using var scope = torch.NewScope();
        var crops = new List<Tensor>(frames.Count);
        foreach (var f in frames)
        {
            var chw = TensorImages.ToTensor(f, 0f, 255f);                    // [3, H, W] RGB 0..255
            crops.Add(chw.narrow(1, Y, Size).narrow(2, X, Size));
        }
        var x = torch.stack(crops, 0);                                        // [T, 3, S, S]
        if (Size != CropSize) x = F.interpolate(x, [CropSize, CropSize], F.InterpolateMode.Bilinear, align_corners: false);
        x = x.flip(1);                                                        // RGB -> BGR
        return scope.Keep(x.transpose(0, 1).unsqueeze(0).contiguous());      // [1, 3, T, 224, 224]
    }
}
