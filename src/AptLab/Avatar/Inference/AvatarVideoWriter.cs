using AptLab.Data.Media;

namespace AptLab.Avatar.Inference;

/// <summary>
/// Writes an OmniAvatar result (docs/omniavatar.md#long-video): frames → <c>uint8(255·v)</c> (truncation) → H.264 mp4 at
/// fps, then the ORIGINAL audio muxed (AAC) with a delay of <c>1/fps + silence_duration_s</c> (the reference frame and
/// the silence prepended before the audio features). The silent intermediate mp4 is deleted.
/// </summary>
public static class AvatarVideoWriter
{
    /// <summary>frames: [N, 3, H, W] in [0, 1].</summary>
    public static List<RgbImage> ToImages(Tensor frames)
    {
        if (frames.dim() != 4 || frames.size(1) != 3) throw new ArgumentException($"frames must be [N, 3, H, W], got [{string.Join(", ", frames.shape)}]");
        using var scope = torch.NewScope();
        var bytes = (frames.to(ScalarType.Float32).clamp(0, 1) * 255.0).to(ScalarType.UInt8).permute(0, 2, 3, 1).contiguous();   // [N, H, W, 3]
        var all = bytes.data<byte>();
        int n = (int)frames.size(0), h = (int)frames.size(2), w = (int)frames.size(3), size = h * w * 3;
        var images = new List<RgbImage>(n);
        for (int i = 0; i < n; i++) images.Add(new RgbImage(w, h, 3, all.AsSpan(i * size, size).ToArray()));
        return images;
    }

    /// <summary>Delay of the muxed audio: 1/fps (frame 0 is the reference image) + the silence prepended to the features.</summary>
    public static double AudioDelay(int fps, double silenceSeconds) => 1.0 / fps + silenceSeconds;

    public static void Write(string outputPath, Tensor frames, int fps, string audioPath, double silenceSeconds)
    {
        var silent = AptLab.Torch.IO.AtomicFile.TempName(Path.ChangeExtension(outputPath, ".mp4"), keepExtension: true);
        try
        {
            Ffmpeg.WriteVideo(silent, ToImages(frames), fps);
            Ffmpeg.MuxAudio(silent, audioPath, outputPath, AudioDelay(fps, silenceSeconds));
        }
        finally
        {
            if (File.Exists(silent)) File.Delete(silent);
        }
    }
}
