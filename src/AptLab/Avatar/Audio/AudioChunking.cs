namespace AptLab.Avatar.Audio;

/// <summary>
/// OmniAvatar's sliding-window arithmetic over video frames (docs/omniavatar.md#long-video): chunks of <see cref="FramesPerChunk"/>
/// (= L) video frames; the first chunk keeps <see cref="FirstFixedFrames"/> (1, the reference image) frames fixed,
/// every later chunk overlaps the previous one by <see cref="OverlapFrames"/> (13). The audio is padded so the chunks
/// tile it exactly: A = (L − first) + k·(L − overlap).
/// </summary>
public sealed record AudioChunking(int FramesPerChunk, int OverlapFrames = 13, int FirstFixedFrames = 1)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid value.</summary>
    public AudioChunking Validate()
    {
        if (FramesPerChunk < 1 || FramesPerChunk % 4 != 1)
            throw new ArgumentException($"AudioChunking.FramesPerChunk must be 4k + 1 (whole latent frames), got {FramesPerChunk}");
        if (OverlapFrames < 1 || OverlapFrames % 4 != 1 || OverlapFrames >= FramesPerChunk)
            throw new ArgumentException($"AudioChunking.OverlapFrames must be 4k + 1 and below FramesPerChunk {FramesPerChunk}, got {OverlapFrames}");
        if (FirstFixedFrames < 0 || FirstFixedFrames >= FramesPerChunk)
            throw new ArgumentException($"AudioChunking.FirstFixedFrames must be in [0, {FramesPerChunk}), got {FirstFixedFrames}");
        return this;
    }

    /// <summary>The padded frame count A for <paramref name="audioLen"/> = ⌈samples / 16000 · 25⌉ video frames.</summary>
    public int PaddedLength(int audioLen)
    {
        Validate();
        if (audioLen < 0) throw new ArgumentException($"audio length must be non-negative, got {audioLen}");
        int first = FramesPerChunk - FirstFixedFrames, step = FramesPerChunk - OverlapFrames;
        if (audioLen < first) return first;
        int rem = (audioLen - first) % step;
        return rem == 0 ? audioLen : audioLen + step - rem;
    }

    /// <summary>Number of chunks ("times") that cover <paramref name="paddedLength"/> frames.</summary>
    public int NumChunks(int paddedLength)
    {
        Validate();
        int step = FramesPerChunk - OverlapFrames;
        int times = Math.Max(0, paddedLength - FramesPerChunk + FirstFixedFrames) / step + 1;
        if (times * step + OverlapFrames < paddedLength) times++;
        return times;
    }
}
