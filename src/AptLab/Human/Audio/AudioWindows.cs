namespace AptLab.Human.Audio;

/// <summary>
/// The neighbouring-frame audio window of docs/omnihuman.md#audio: video frame i's audio tokens come from the feature
/// rows of frames i - n .. i + n of the whole track (indices clamped to the track), so the frames at a segment's edge
/// see the audio just outside the segment.
/// </summary>
public static class AudioWindows
{
    /// <summary>track [N, C] (or [B, N, C]) -> windows [B, count, 2n + 1, C] of frames start .. start + count - 1.</summary>
    public static Tensor Gather(Tensor track, int start, int count, int n)
    {
        if (track.dim() == 2) track = track.unsqueeze(0);
        if (track.dim() != 3) throw new ArgumentException($"AudioWindows: the track must be [N, C] or [B, N, C], got [{string.Join(", ", track.shape)}]");
        if (count < 1 || start < 0) throw new ArgumentException($"AudioWindows: frames [{start}, +{count}) are invalid");
        if (n < 0) throw new ArgumentException($"AudioWindows: the half-width must be >= 0, got {n}");
        using var scope = torch.NewScope();
        long len = track.size(1);
        var idx = new long[count * (2 * n + 1)];
        for (int i = 0; i < count; i++)
            for (int j = -n; j <= n; j++) idx[i * (2 * n + 1) + j + n] = Math.Clamp(start + i + j, 0, len - 1);
        var rows = track.index_select(1, torch.tensor(idx, idx.Length).to(track.device));   // [B, count·(2n+1), C]
        return scope.Keep(rows.view(track.size(0), count, 2 * n + 1, track.size(2)));
    }
}
