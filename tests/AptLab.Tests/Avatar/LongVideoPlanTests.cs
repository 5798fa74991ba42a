using AptLab.Avatar.Inference;
using AptLab.Avatar.Audio;
using Xunit.Abstractions;

namespace AptLab.Tests.Avatar;

/// <summary>The sliding-window arithmetic of docs/omniavatar.md#long-video (frames per chunk, padding, slices, overlaps, trim).</summary>
public class LongVideoPlanTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(400, 720, 30000, 105)]
    [InlineData(400, 720, 60000, 213)]
    [InlineData(400, 720, 80000, 281)]
    [InlineData(720, 720, 30000, 57)]
    [InlineData(720, 720, 60000, 117)]
    [InlineData(720, 720, 80000, 157)]
    [InlineData(528, 960, 30000, 57)]
    [InlineData(528, 960, 60000, 121)]
    [InlineData(528, 960, 80000, 161)]
    [InlineData(720, 1280, 30000, 33)]
    [InlineData(720, 1280, 60000, 65)]
    [InlineData(720, 1280, 80000, 85)]
    public void Frames_per_chunk_follow_the_token_budget(int h, int w, int maxTokens, int expected)
    {
        Assert.Equal(expected, LongVideoPlan.FramesPerChunkFor(maxTokens, h, w));
        Assert.Equal(expected, LongVideoPlan.FramesPerChunkFor(maxTokens, w, h));
    }

    [Theory]
    [InlineData(105, 75, 104, 1)]     // 3 s
    [InlineData(105, 105, 196, 2)]    // 4.2 s
    [InlineData(105, 106, 196, 2)]
    [InlineData(105, 197, 288, 3)]
    [InlineData(105, 250, 288, 3)]    // 10 s
    [InlineData(105, 258, 288, 3)]    // 10 s + 0.3 s silence
    [InlineData(105, 1500, 1576, 17)] // 60 s
    [InlineData(17, 1, 16, 1)]
    [InlineData(17, 18, 20, 2)]
    [InlineData(17, 19, 20, 2)]
    [InlineData(17, 20, 20, 2)]
    [InlineData(17, 37, 40, 7)]
    [InlineData(57, 131, 144, 3)]
    public void Padding_chunks_slices_overlaps_and_trim(int l, int audioLen, int padded, int chunks)
    {
        using var _ = torch.NewScope();
        var plan = LongVideoPlan.Create(audioLen, l);
        Assert.Equal(padded, plan.PaddedAudioLen);
        Assert.Equal(chunks, plan.Chunks.Count);
        // the audio module's own padding agrees
        var ac = new AudioChunking(l);
        Assert.Equal(padded, ac.PaddedLength(audioLen));
        Assert.Equal(chunks, ac.NumChunks(padded));
        Assert.Equal((padded - (l - 1)) % (l - 13), 0);
        // slices tile [0, A) without gaps: chunk 0 takes L − 1 rows, every later chunk L − 13
        int next = 0;
        foreach (var c in plan.Chunks)
        {
            Assert.Equal(next, c.AudioStart);
            Assert.Equal(c.Index == 0 ? l - 1 : l - 13, c.AudioCount);
            Assert.Equal(c.Index == 0 ? (1, 1, 0) : (13, 4, 13), (c.PrefixFrames, c.PrefixLatentFrames, c.DroppedFrames));
            next += c.AudioCount;
        }
        Assert.Equal(padded, next);
        Assert.Equal(l + (chunks - 1) * (l - 13), plan.GeneratedFrames);
        Assert.Equal(padded + 1, plan.GeneratedFrames);
        Assert.Equal(audioLen + 1, plan.OutputFrames);
        Assert.Equal((l + 3) / 4, plan.LatentFrames);

        // inference.py's rolling audio prefix: chunk 0 = [0, e0 .. e_{L−2}], chunk t = e[start − 13 .. start + L − 14]
        var emb = (torch.arange(1, padded + 1, dtype: ScalarType.Float32).unsqueeze(1) * torch.ones(1, 3));   // row i holds i + 1
        Tensor? prefix = null;
        foreach (var c in plan.Chunks)
        {
            var a = plan.ChunkAudio(emb, c, ref prefix);                         // [L, 3]
            var first = a.select(1, 0).data<float>().Select(v => (int)v - 1).ToArray();   // embedding row per frame (−1 = zero row)
            var expected = c.Index == 0
                ? [-1, .. Enumerable.Range(0, l - 1)]
                : Enumerable.Range(c.AudioStart - 13, l).ToArray();
            Assert.Equal(expected, first);
        }
        log.WriteLine($"L={l} A0={audioLen}: A={padded}, {chunks} chunks, {plan.GeneratedFrames} frames generated, {plan.OutputFrames} kept");
    }

    [Fact]
    public void Overlap_one_and_no_random_prefix()
    {
        var p1 = LongVideoPlan.Create(200, 105, overlapFrame: 1);
        Assert.All(p1.Chunks.Skip(1), c => Assert.Equal((1, 1, 1, 104), (c.PrefixFrames, c.PrefixLatentFrames, c.DroppedFrames, c.AudioCount)));
        Assert.Equal(p1.PaddedAudioLen + 1, p1.GeneratedFrames);
        var p2 = LongVideoPlan.Create(200, 105, overlapFrame: 13, randomPrefixFrames: false);
        Assert.Equal(1, p2.FixedFrames);
        Assert.Throws<ArgumentException>(() => LongVideoPlan.Create(200, 105, overlapFrame: 12));
        Assert.Throws<ArgumentException>(() => LongVideoPlan.Create(200, 13, overlapFrame: 13));
    }

    [Fact]
    public void Reference_image_buckets_and_centre_crop()
    {
        var b = AvatarDefaults.ImageSizes720;
        Assert.Equal((400, 720), ReferenceImage.MatchSize(b, 1080, 1920));
        Assert.Equal((720, 720), ReferenceImage.MatchSize(b, 500, 520));
        Assert.Equal((720, 400), ReferenceImage.MatchSize(b, 1920, 1080));
        using var _ = torch.NewScope();
        // 5 × 10 → bucket 4 × 4: r = max(4/5, 4/10) = 0.8 → 4 × 8, crop 4 columns: 2 left, 2 right
        var img = torch.arange(50, dtype: ScalarType.Float32).reshape(1, 1, 5, 10);
        var r = ReferenceImage.ResizeCrop(torch.arange(40, dtype: ScalarType.Float32).reshape(1, 1, 4, 10), 4, 5);
        // 4 × 10 → 4 × 5: r = max(1, 0.5) = 1, no resize, crop 5 columns: floor(−5/2) = −3 → 3 left, 2 right
        Assert.Equal(new float[] { 3, 4, 5, 6, 7 }, r.select(2, 0).flatten().data<float>());
        Assert.Equal([1L, 1, 4, 4], ReferenceImage.ResizeCrop(img, 4, 4).shape);
    }
}
