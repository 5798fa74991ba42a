namespace AptLab.Human.Inference;

/// <summary>One segment of a long OmniHuman video.</summary>
/// <param name="Index">k = 0, 1, ...</param>
/// <param name="Start">its first output frame, k · L</param>
/// <param name="Kept">frames of it that are written (L, or fewer for the last segment)</param>
/// <param name="MotionStart">first output frame of its motion frames (the previous segment's last M), or -1 for segment 0</param>
public sealed record Segment(int Index, int Start, int Kept, int MotionStart);

/// <summary>
/// Segment-by-segment long video (docs/omnihuman.md#motion-frames): N output frames are generated as K = ⌈N / L⌉
/// segments of L frames each (1 + 4k, the latent clip); segment k covers frames [kL, kL + L); every segment after the
/// first is conditioned on the last M generated frames of the one before (frames [kL − M, kL)), VAE-encoded as clean
/// motion latents; the audio windows and the pose of a segment are those of its own frames, read from the track padded
/// (silence / the last pose repeated) to K·L frames; the video is cut to N frames at the end. Motion frames are context,
/// not output, so nothing is generated twice.
/// </summary>
public sealed record SegmentPlan(int Frames, int SegmentFrames, int MotionFrames, IReadOnlyList<Segment> Segments)
{
    /// <summary>Frames generated before the cut: K · L.</summary>
    public int GeneratedFrames => Segments.Count * SegmentFrames;

    /// <summary>The plan for <paramref name="frames"/> output frames.</summary>
    public static SegmentPlan Create(int frames, int segmentFrames, int motionFrames)
    {
        if (frames < 1) throw new ArgumentException($"a video needs at least 1 frame, got {frames}");
        if (segmentFrames < 1 || (segmentFrames - 1) % 4 != 0) throw new ArgumentException($"segment frames must be 1 + 4k, got {segmentFrames}");
        if (motionFrames < 1 || motionFrames > segmentFrames)
            throw new ArgumentException($"motion frames ({motionFrames}) must lie in [1, segment frames {segmentFrames}]");
        int k = (frames + segmentFrames - 1) / segmentFrames;
        var segments = Enumerable.Range(0, k).Select(i => new Segment(i, i * segmentFrames, Math.Min(segmentFrames, frames - i * segmentFrames),
            i == 0 ? -1 : i * segmentFrames - motionFrames)).ToList();
        return new SegmentPlan(frames, segmentFrames, motionFrames, segments);
    }

    /// <summary>Output frames of <paramref name="samples"/> audio samples: ⌈samples / sample_rate · fps⌉.</summary>
    public static int FramesOfAudio(long samples, int sampleRate, int fps) => (int)Math.Ceiling(samples / (double)sampleRate * fps);
}
