namespace AptLab.Evaluation.Sync;

/// <summary>
/// Sync-C / Sync-D of one clip as SyncNet's <c>evaluate()</c> computes them (docs/evaluation.md, "Sync-C and
/// Sync-D"): 25 fps face crops and 16 kHz audio; W = min(frames, floor(samples / 640)) - 5 windows (one fewer than
/// the complete 5-frame windows, as upstream); window v pairs frames v..v+4 with MFCC frames 4v..4v+19; embeddings in
/// batches, then the offset search of <see cref="SyncScores.FromEmbeddings(float[,], float[,], int)"/>.
/// </summary>
public sealed class SyncEvaluator(SyncNet net, int vshift = 15, int batchSize = 20)
{
    /// <summary>Audio samples per video frame (16 kHz / 25 fps).</summary>
    public const int SamplesPerFrame = 640;
    public const int WindowFrames = 5, MfccPerFrame = 4, MfccWindow = 20;

    /// <summary>Number of windows SyncNet scores for a clip.</summary>
    public static int WindowCount(long frames, long audioSamples) => (int)Math.Min(frames, audioSamples / SamplesPerFrame) - WindowFrames;

    /// <summary>Embeddings of every window: lip [W, 1024] and audio [W, 1024].</summary>
    /// <param name="frames">[1, 3, T, 224, 224] face crops, raw 0..255 values, BGR</param>
    /// <param name="mfcc">[1, 1, 13, F] MFCCs at 100 Hz (<see cref="Mfcc.ToSyncNetInput"/>)</param>
    /// <param name="audioSamples">length of the 16 kHz audio the MFCCs came from</param>
    public (Tensor lip, Tensor aud) Embeddings(Tensor frames, Tensor mfcc, long audioSamples)
    {
        if (frames.dim() != 5 || frames.shape[0] != 1 || frames.shape[1] != 3)
            throw new ArgumentException($"Sync: frames must be [1, 3, T, H, W]; got [{string.Join(", ", frames.shape)}]");
        if (mfcc.dim() != 4 || mfcc.shape[0] != 1 || mfcc.shape[1] != 1)
            throw new ArgumentException($"Sync: MFCCs must be [1, 1, 13, F]; got [{string.Join(", ", mfcc.shape)}]");
        int w = WindowCount(frames.shape[2], audioSamples);
        if (w < 1)
            throw new ArgumentException($"Sync: the clip is too short ({frames.shape[2]} frames, {audioSamples} audio samples); SyncNet needs at least 6 frames (0.24 s) of both");
        if (mfcc.shape[3] < MfccPerFrame * (w - 1) + MfccWindow)
            throw new ArgumentException($"Sync: {mfcc.shape[3]} MFCC frames do not cover {w} windows (need {MfccPerFrame * (w - 1) + MfccWindow})");
        using var scope = torch.NewScope();
        var lips = new List<Tensor>();
        var auds = new List<Tensor>();
        for (int start = 0; start < w; start += batchSize)
        {
            int end = Math.Min(w, start + batchSize);
            var lipBatch = torch.cat(Enumerable.Range(start, end - start).Select(v => frames.narrow(2, v, WindowFrames)).ToList(), 0);
            var audBatch = torch.cat(Enumerable.Range(start, end - start).Select(v => mfcc.narrow(3, MfccPerFrame * v, MfccWindow)).ToList(), 0);
            lips.Add(net.forward_lip(lipBatch));                              // [n, 1024]
            auds.Add(net.forward_aud(audBatch));
            lipBatch.Dispose();
            audBatch.Dispose();
        }
        return (scope.Keep(torch.cat(lips, 0)), scope.Keep(torch.cat(auds, 0)));
    }

    /// <summary>
    /// Sync scores of decoded media: 25 fps frames, the face box, and mono 16 kHz audio in [-1, 1], which is scaled to
    /// int16 sample values first (SyncNet reads 16-bit PCM WAV, so its MFCCs see the integer values).
    /// </summary>
    public SyncScores Evaluate(IReadOnlyList<AptLab.Data.Media.RgbImage> frames, FaceBox box, ReadOnlySpan<float> audio16k)
    {
        var pcm = new double[audio16k.Length];
        for (int i = 0; i < pcm.Length; i++) pcm[i] = Math.Clamp(Math.Round(audio16k[i] * 32768.0), -32768, 32767);
        using var scope = torch.NewScope();
        var mfcc = Mfcc.ToSyncNetInput(Mfcc.Compute(pcm));
        return Evaluate(box.Crops(frames), mfcc, pcm.Length);
    }

    /// <summary>Sync scores of one clip (see <see cref="Embeddings"/> for the inputs).</summary>
    public SyncScores Evaluate(Tensor frames, Tensor mfcc, long audioSamples)
    {
        var (lip, aud) = Embeddings(frames, mfcc, audioSamples);
        using (lip) using (aud) return SyncScores.FromEmbeddings(lip, aud, vshift);
    }
}
