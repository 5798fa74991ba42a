using AptLab.Config;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Experiments.Human;
using AptLab.Human.Data;

namespace AptLab.Tests.Human;

/// <summary>The manifest encoder on real mp4 / wav / keypoints files: with the next clips decoded on worker threads it
/// stores exactly what one-at-a-time decoding stores, in manifest order; a clip that does not decode stops the run with
/// an error naming that file, after every clip before it is in the cache, and a second run after the fix encodes only
/// the rest. Catches a prefetch that reorders clips, pairs one clip's media with another's row, or loses work.</summary>
public class HumanCacheEncoderTests
{
    [Fact]
    public void Prefetched_encoding_stores_the_sequential_cache_and_stops_at_a_broken_clip()
    {
        using var _ = torch.NewScope();
        using var tmp = TestPaths.Temp();
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "omnihuman-smoke.yaml"));
        var h = cfg.Human!;
        h.Model.TokenizerPath = Path.Combine(TestPaths.Repo, h.Model.TokenizerPath);
        var spec = h.Data.Spec(h.Model.MotionFrames);
        using var enc = HumanModels.Encoders(h, 3);
        var manifestPath = HumanStudy.Faces(7, spec).Write(tmp.File("data"), 6, audioQualified: 0.6, withPose: 0.5, workers: 2);
        var manifest = HumanManifest.Load(manifestPath);
        HumanCacheEncoder Encoder() => new(enc.Vae, enc.Text, enc.Audio(spec.Fps), spec);

        var one = LatentCache.Open(tmp.File("one"));
        Assert.Equal(6, Encoder().EncodeAll(manifest, one, prefetch: 0));
        var many = LatentCache.Open(tmp.File("many"));
        Assert.Equal(6, Encoder().EncodeAll(manifest, many, prefetch: 3));
        Assert.Equal(manifest.Clips.Select(c => c.Id), many.Entries.Select(e => e.Id));
        Assert.Equal(one.Entries.Select(e => (e.Id, e.Caption)), many.Entries.Select(e => (e.Id, e.Caption)));
        for (int i = 0; i < 6; i++)
        {
            using var a = one.Load(i);
            using var b = many.Load(i);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            foreach (var k in a.Keys) { Assert.Equal(a[k].shape, b[k].shape); Assert.Equal(0.0, (a[k] - b[k]).abs().max().item<double>()); }
        }
        Assert.Contains("keypoints", Enumerable.Range(0, 6).SelectMany(i => { using var s = one.Load(i); return s.Keys.ToList(); }));

        var video = Path.Combine(manifest.Directory, "clip0003.mp4");
        var good = File.ReadAllBytes(video);
        File.WriteAllBytes(video, good.Take(good.Length / 3).ToArray());                 // a truncated file
        var broken = LatentCache.Open(tmp.File("broken"));
        var e = Assert.ThrowsAny<Exception>(() => Encoder().EncodeAll(manifest, broken, prefetch: 3));
        Assert.Contains("clip0003.mp4", e.Message);
        Assert.Equal(manifest.Clips.Take(3).Select(c => c.Id), LatentCache.Open(tmp.File("broken")).Entries.Select(x => x.Id));
        File.WriteAllBytes(video, good);
        var resumed = LatentCache.Open(tmp.File("broken"));
        Assert.Equal(3, Encoder().EncodeAll(manifest, resumed, prefetch: 3));
        using var last = resumed.Load(5);
        using var want = one.Load(5);
        Assert.Equal(0.0, (last["latents"] - want["latents"]).abs().max().item<double>());
    }
}
