namespace AptLab.Evaluation.Fvd;

/// <summary>
/// FVD's clip protocol (docs/evaluation.md, "FVD"), as the PyTorch FVD code built on this I3D does it: the first
/// <c>frames</c> frames (16) of a video, the shorter side resized to 224 (bilinear, align_corners = false, no
/// antialiasing; the longer side rounded up), a centred 224 x 224 crop, values mapped to [-1, 1]; one embedding per
/// clip = the 400 I3D logits (averaged over I3D's output time steps, a no-op for 16 frames).
/// </summary>
public static class FvdClips
{
    public const int Frames = 16, Size = 224;

    /// <summary>A clip [3, frames, 224, 224] in [-1, 1] from <paramref name="video"/> [3, T, H, W] in [0, 1].</summary>
    public static Tensor Prepare(Tensor video, int frames = Frames, string? source = null)
    {
        if (video.dim() != 4 || video.shape[0] != 3) throw new ArgumentException($"FVD: a video must be [3, T, H, W]; got [{string.Join(", ", video.shape)}]");
        long t = video.shape[1], h = video.shape[2], w = video.shape[3];
        if (t < frames) throw new ArgumentException($"FVD: {source ?? "a video"} has {t} frames; a clip needs {frames}");
        using var scope = torch.NewScope();
        var x = video.narrow(1, 0, frames).transpose(0, 1);                 // [frames, 3, H, W]
        double scale = (double)Size / Math.Min(h, w);
        long th = h < w ? Size : (long)Math.Ceiling(h * scale), tw = h < w ? (long)Math.Ceiling(w * scale) : Size;
        x = F.interpolate(x.contiguous(), [th, tw], F.InterpolateMode.Bilinear, align_corners: false);
        x = x.narrow(2, (th - Size) / 2, Size).narrow(3, (tw - Size) / 2, Size);
        return scope.Keep((x.transpose(0, 1) * 2 - 1).contiguous());        // [3, frames, 224, 224]
    }

    /// <summary>Logits [N, classes] (float64, CPU) of prepared clips [3, frames, 224, 224], in batches.</summary>
    public static Tensor Logits(InceptionI3d net, IEnumerable<Tensor> clips, int batchSize = 4)
    {
        var device = net.logits.parameters().First().device;
        var rows = new List<Tensor>();
        var batch = new List<Tensor>();
        void Flush()
        {
            if (batch.Count == 0) return;
            using var scope = torch.NewScope();
            var x = torch.stack(batch, 0).to(device, ScalarType.Float32);      // [B, 3, frames, 224, 224]
            var l = net.forward(x).mean(2);                                   // [B, classes, T'] -> [B, classes]
            rows.Add(scope.Keep(l.to(Device.CPU, ScalarType.Float64)));
            foreach (var c in batch) c.Dispose();
            batch.Clear();
        }
        foreach (var c in clips)
        {
            batch.Add(c);
            if (batch.Count == batchSize) Flush();
        }
        Flush();
        if (rows.Count == 0) throw new ArgumentException("FVD: no clips");
        var all = torch.cat(rows, 0);
        foreach (var r in rows) r.Dispose();
        return all;
    }
}
