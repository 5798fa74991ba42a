namespace AptLab.Avatar.Inference;

/// <summary>One chunk of an OmniAvatar long video (docs/omniavatar.md#long-video).</summary>
/// <param name="Index">t = 0, 1, ...</param>
/// <param name="AudioStart">first row of <c>audio_embeddings</c> in the new slice (0 for chunk 0)</param>
/// <param name="AudioCount">rows in the new slice: L − 1 for chunk 0, L − f afterwards</param>
/// <param name="PrefixFrames">video frames fixed at the start of the chunk: 1 (reference) for chunk 0, f afterwards</param>
/// <param name="PrefixLatentFrames">latent frames fixed / masked 0: (3 + PrefixFrames) / 4</param>
/// <param name="DroppedFrames">leading generated frames not output (0 for chunk 0, f afterwards: they re-generate the previous tail)</param>
public sealed record AvatarChunk(int Index, int AudioStart, int AudioCount, int PrefixFrames, int PrefixLatentFrames, int DroppedFrames);

/// <summary>
/// The sliding-window bookkeeping of OmniAvatar's long-video inference (docs/omniavatar.md#long-video): frames per chunk from the token
/// budget (docs/omniavatar.md#long-video), prefix frames (docs/omniavatar.md#long-video), audio padding and chunk count (docs/omniavatar.md#long-video), audio slices with the rolling audio
/// prefix, overlap dropping and the final trim to <c>ori_audio_len + 1</c> frames (docs/omniavatar.md#long-video).
/// </summary>
public sealed record LongVideoPlan
{
    /// <summary>L: video frames per chunk (4n + 1).</summary>
    public required int FramesPerChunk { get; init; }
    /// <summary>f: fixed frames of chunks t ≥ 1 (= overlap_frame with random_prefix_frames, else 1).</summary>
    public required int FixedFrames { get; init; }
    /// <summary>Frames the audio covers before padding (the output keeps this + 1 frames).</summary>
    public required int OriAudioLen { get; init; }
    /// <summary>A: audio rows after padding to whole chunks.</summary>
    public required int PaddedAudioLen { get; init; }
    public required IReadOnlyList<AvatarChunk> Chunks { get; init; }

    /// <summary>T: latent frames per chunk.</summary>
    public int LatentFrames => (FramesPerChunk + 3) / 4;
    /// <summary>Frames after concatenating the chunks (overlaps dropped): L + (times − 1)(L − f).</summary>
    public int GeneratedFrames => FramesPerChunk + (Chunks.Count - 1) * (FramesPerChunk - FixedFrames);
    /// <summary>Frames written: the reference frame + one per audio frame, ori_audio_len + 1.</summary>
    public int OutputFrames => Math.Min(GeneratedFrames, OriAudioLen + 1);

    /// <summary>docs/omniavatar.md#long-video: L from the token budget and the bucket (Hb × Wb pixels): <c>L_raw = int(max_tokens·1024/Hb/Wb)</c>,
    /// L = the largest 4n + 1 ≤ L_raw (L_raw − 3 when L_raw is a multiple of 4).</summary>
    public static int FramesPerChunkFor(int maxTokens, int height, int width)
    {
        if (maxTokens <= 0 || height <= 0 || width <= 0) throw new ArgumentException($"max_tokens, height and width must be positive (got {maxTokens}, {height}, {width})");
        int raw = (int)(maxTokens * 16.0 * 16.0 * 4.0 / height / width);
        int l = raw % 4 == 0 ? raw - 3 : raw / 4 * 4 + 1;
        if (l < 1) throw new ArgumentException($"max_tokens {maxTokens} is too small for {height}x{width}: not even one latent frame per chunk");
        return l;
    }

    /// <summary>docs/omniavatar.md#long-video: (fixed_frame, prefix_lat_frame) for chunks t ≥ 1.</summary>
    public static (int fixedFrame, int prefixLatFrame) Prefix(int overlapFrame, bool randomPrefixFrames = true)
    {
        if (!randomPrefixFrames) return (1, 1);
        if (overlapFrame < 1 || overlapFrame % 4 != 1) throw new ArgumentException($"overlap_frame must be 1 + 4n, got {overlapFrame}");
        return (overlapFrame, (3 + overlapFrame) / 4);
    }

    /// <summary>docs/omniavatar.md#long-video padding: A = L − 1 when shorter, else rounded up to (L − 1) + k(L − f).</summary>
    public static int PaddedLength(int audioLen, int framesPerChunk, int fixedFrames, int firstFixedFrames = 1)
    {
        int first = framesPerChunk - firstFixedFrames, step = framesPerChunk - fixedFrames;
        if (audioLen < first) return first;
        int rem = (audioLen - first) % step;
        return rem == 0 ? audioLen : audioLen + step - rem;
    }

    /// <summary>The whole plan for <paramref name="oriAudioLen"/> = ⌈samples/16000·25⌉ frames.</summary>
    public static LongVideoPlan Create(int oriAudioLen, int framesPerChunk, int overlapFrame = 13, bool randomPrefixFrames = true)
    {
        if (framesPerChunk < 1 || framesPerChunk % 4 != 1) throw new ArgumentException($"frames per chunk must be 4n + 1, got {framesPerChunk}");
        if (oriAudioLen < 1) throw new ArgumentException($"the audio covers {oriAudioLen} frames; need at least 1");
        var (f, prefixLat) = Prefix(overlapFrame, randomPrefixFrames);
        int l = framesPerChunk;
        if (f >= l) throw new ArgumentException($"overlap_frame {f} must be smaller than the {l} frames of a chunk (raise max_tokens or lower overlap_frame)");
        int a = PaddedLength(oriAudioLen, l, f);
        int times = (a - l + 1) / (l - f) + 1;                                   // (A − L + f1)//(L − f) + 1, f1 = 1
        if (times * (l - f) + f < a) times++;
        var chunks = new List<AvatarChunk>(times);
        for (int t = 0; t < times; t++)
            chunks.Add(t == 0
                ? new AvatarChunk(0, 0, l - 1, 1, 1, 0)
                : new AvatarChunk(t, (l - 1) + (t - 1) * (l - f), l - f, f, prefixLat, f));
        return new LongVideoPlan { FramesPerChunk = l, FixedFrames = f, OriAudioLen = oriAudioLen, PaddedAudioLen = a, Chunks = chunks };
    }

    /// <summary>
    /// The audio of chunk <paramref name="chunk"/> as inference.py builds it: <c>cat(audio_prefix, emb[start : start + count])</c>
    /// → [L, C], then <c>audio_prefix</c> ← its last f rows. Start with <paramref name="audioPrefix"/> = null (one zero
    /// row: the reference frame's audio). <paramref name="embeddings"/>: [A, C].
    /// </summary>
    public Tensor ChunkAudio(Tensor embeddings, AvatarChunk chunk, ref Tensor? audioPrefix)
    {
        if (embeddings.dim() != 2 || embeddings.size(0) < PaddedAudioLen)
            throw new ArgumentException($"audio embeddings must be [A ≥ {PaddedAudioLen}, C], got [{string.Join(", ", embeddings.shape)}]");
        using var scope = torch.NewScope();
        var prefix = audioPrefix ?? torch.zeros([1, embeddings.size(1)], embeddings.dtype, embeddings.device);
        var rows = torch.cat([prefix, embeddings.narrow(0, chunk.AudioStart, chunk.AudioCount)], 0);   // [L, C]
        if (rows.size(0) != FramesPerChunk)
            throw new InvalidOperationException($"chunk {chunk.Index}: {rows.size(0)} audio rows, expected {FramesPerChunk}");
        audioPrefix = scope.Keep(rows.narrow(0, FramesPerChunk - FixedFrames, FixedFrames).contiguous());
        return scope.Keep(rows);
    }
}
