using AptLab.Data.Media;

namespace AptLab.Avatar.Inference;

/// <summary>
/// Writes an OmniAvatar result (docs/omniavatar.md#long-video): frames → <c>uint8(255·v)</c> (truncation) → H.264 mp4 at
/// fps, streamed to ffmpeg as the chunks are decoded (<see cref="VideoStreamWriter"/>, docs/omniavatar.md#long-audio),
/// then the ORIGINAL audio muxed (AAC) with a delay of <c>1/fps + silence_duration_s</c> (the reference frame and the
/// silence prepended before the audio features). The silent intermediate mp4 is deleted; the output appears only when
/// complete, and an existing file is untouched when anything fails (docs/reliability.md).
/// </summary>
public sealed class AvatarVideoWriter(string outputPath, int fps) : IDisposable
{
    private readonly string silent = AptLab.Torch.IO.AtomicFile.TempName(Path.ChangeExtension(Path.GetFullPath(outputPath), ".mp4"), keepExtension: true);
    private VideoStreamWriter? stream;

    /// <summary>Frames written so far.</summary>
    public long Frames => stream?.Frames ?? 0;

    /// <summary>Appends frames [n, 3, H, W] in [0, 1].</summary>
    public void Write(Tensor frames)
    {
        var images = ToImages(frames);
        stream ??= new VideoStreamWriter(silent, images[0].Width, images[0].Height, fps);
        foreach (var image in images) stream.Write(image);
    }

    /// <summary>Completes the video and muxes <paramref name="audioPath"/> into the output.</summary>
    public void Finish(string audioPath, double silenceSeconds)
    {
        if (stream is null) throw new ArgumentException($"{outputPath}: no frames to write");
        stream.Complete();
        Ffmpeg.MuxAudio(silent, audioPath, outputPath, AudioDelay(fps, silenceSeconds));
    }

    public void Dispose()
    {
        stream?.Dispose();
        try { File.Delete(silent); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>frames: [N, 3, H, W] in [0, 1].</summary>
    public static List<RgbImage> ToImages(Tensor frames)
    {
        if (frames.dim() != 4 || frames.size(1) != 3) throw new ArgumentException($"frames must be [N, 3, H, W], got [{string.Join(", ", frames.shape)}]");
        using var scope = torch.NewScope();
        var bytes = (frames.to(ScalarType.Float32).clamp(0, 1) * 255.0).to(ScalarType.UInt8).permute(0, 2, 3, 1).contiguous();   // [N, H, W, 3]
        int n = (int)frames.size(0), h = (int)frames.size(2), w = (int)frames.size(3), size = h * w * 3;
        var images = new List<RgbImage>(n);
        // each frame copied straight into its own array: no array of the whole chunk, which would be a large-object
        // allocation per chunk left to pile up until a full collection (docs/omniavatar.md#long-audio)
        for (int i = 0; i < n; i++)
        {
            var pixels = new byte[size];
            bytes.select(0, i).CopyTo<byte>(pixels);
            images.Add(new RgbImage(w, h, 3, pixels));
        }
        return images;
    }

    /// <summary>Delay of the muxed audio: 1/fps (frame 0 is the reference image) + the silence prepended to the features.</summary>
    public static double AudioDelay(int fps, double silenceSeconds) => 1.0 / fps + silenceSeconds;

    /// <summary>All frames at once: [N, 3, H, W] in [0, 1].</summary>
    public static void Write(string outputPath, Tensor frames, int fps, string audioPath, double silenceSeconds)
    {
        using var writer = new AvatarVideoWriter(outputPath, fps);
        writer.Write(frames);
        writer.Finish(audioPath, silenceSeconds);
    }
}
