using AptLab.Data;
using AptLab.Avatar.Data;
using AptLab.Experiments.Avatar;

namespace AptLab.Tests.Avatar.Training;

/// <summary>Manifests (CSV and JSONL, errors naming file, line and column) and the latent cache of the clips.</summary>
[Collection("AvatarTraining")]
public class AvatarDataTests(AvatarTrainingFixture fx)
{
    private static string Write(TempDir tmp, string name, string text)
    {
        foreach (var f in new[] { "a.mp4", "a.wav", "b.mp4", "b.wav", "ref.png" }) File.WriteAllText(tmp.File(f), "x");
        File.WriteAllText(tmp.File(name), text);
        return tmp.File(name);
    }

    [Fact]
    public void CsvAndJsonlManifestsResolvePathsRelativeToTheManifest()
    {
        using var tmp = TestPaths.Temp();
        var csv = AvatarManifest.Load(Write(tmp, "m.csv",
            "caption,video,audio,image\n# comment\n\"a man, talking \"\"loudly\"\"\",a.mp4,a.wav,ref.png\n\nplain,b.mp4,b.wav,\n"));
        Assert.Equal(2, csv.Clips.Count);
        Assert.Equal("a man, talking \"loudly\"", csv.Clips[0].Caption);
        Assert.Equal(tmp.File("a.mp4"), csv.Clips[0].Video);
        Assert.Equal(tmp.File("ref.png"), csv.Clips[0].Image);
        Assert.Null(csv.Clips[1].Image);
        Assert.Equal(5, csv.Clips[1].Line);
        var jsonl = AvatarManifest.Load(Write(tmp, "m.jsonl",
            "{\"video\": \"a.mp4\", \"audio\": \"a.wav\", \"caption\": \"hi\", \"image\": \"ref.png\"}\n{\"video\": \"b.mp4\", \"audio\": \"b.wav\", \"caption\": \"yo\", \"image\": null}\n"));
        Assert.Equal(["hi", "yo"], jsonl.Clips.Select(c => c.Caption));
        Assert.Equal(tmp.File("b.wav"), jsonl.Clips[1].Audio);
        Assert.NotEqual(jsonl.Clips[0].Id, jsonl.Clips[1].Id);
    }

    [Theory]
    [InlineData("m.csv", "video,audio,caption\na.mp4,a.wav,ok\nb.mp4,missing.wav,ok\n", ":3: column 'audio': file not found")]
    [InlineData("m.csv", "video,audio,caption\na.mp4,a.wav,\n", ":2: column 'caption': is empty")]
    [InlineData("m.csv", "video,audio\na.mp4,a.wav\n", ":1: the header has no 'caption' column")]
    [InlineData("m.csv", "video,audio,caption,speaker\na.mp4,a.wav,x,y\n", ":1: column 4 'speaker' is not one of")]
    [InlineData("m.csv", "video,audio,caption\na.mp4,a.wav\n", ":2: 2 fields, the header has 3")]
    [InlineData("m.csv", "video,audio,caption\na.mp4,a.wav,\"open\n", ":2: unterminated quote starting at character 13")]
    [InlineData("m.jsonl", "{\"video\": \"a.mp4\", \"audio\": \"a.wav\", \"caption\": \"x\"}\n{\"video\": \"b.mp4\", \"audio\": 3, \"caption\": \"x\"}\n", ":2: column 'audio': must be a string")]
    [InlineData("m.jsonl", "{\"video\": \"a.mp4\", \"audio\": \"a.wav\"}\n", ":1: column 'caption': is missing")]
    [InlineData("m.jsonl", "{\"video\": \"a.mp4\",, }\n", ":1: column 19: not valid JSON")]
    [InlineData("m.jsonl", "{\"video\": \"a.mp4\", \"audio\": \"a.wav\", \"caption\": \"x\"}\n{\"video\": \"a.mp4\", \"audio\": \"a.wav\", \"caption\": \"y\"}\n", ":2: column 'video': the same clip as line 1")]
    public void BadRowsNameFileLineAndColumn(string name, string text, string expected)
    {
        using var tmp = TestPaths.Temp();
        var path = Write(tmp, name, text);
        var e = Assert.Throws<InvalidDataException>(() => AvatarManifest.Load(path));
        Assert.Contains(path + expected, e.Message);
    }

    [Fact]
    public void ClipsAreEncodedOnceAndASecondPreparationReusesTheCache()
    {
        Assert.Contains("generated 4 clips", fx.FirstLog);
        Assert.Contains("[encode] 4 clips encoded, 0 from the cache", fx.FirstLog);
        Assert.Contains("[encode] all 4 clips found", fx.SecondLog);
        var cache = LatentCache.Open(fx.CacheDir);
        Assert.Equal(4, cache.Count);
        var stamps = cache.Entries.Select(e => File.GetLastWriteTimeUtc(Path.Combine(cache.Root, e.File))).ToArray();
        // the encoder itself skips cached clips
        var a = fx.Config().Avatar!;
        var (vae, text, w2v) = AvatarFinetuneModels.BuildEncoders(a, 0);
        try
        {
            var encoder = new AvatarCacheEncoder(vae, text, w2v, a.Data.Spec());
            Assert.Equal(0, encoder.EncodeAll(AvatarManifest.Load(Path.Combine(fx.DataDir, "manifest.csv")), cache));
            Assert.Equal(0, encoder.Encoded);
        }
        finally { vae.Dispose(); text.Encoder.Dispose(); text.Tokenizer.Dispose(); w2v.Dispose(); }
        Assert.Equal(stamps, LatentCache.Open(fx.CacheDir).Entries.Select(e => File.GetLastWriteTimeUtc(Path.Combine(cache.Root, e.File))));

        // what a sample holds: latents [16, 3, 4, 4], ref [16, 1, 4, 4], audio [9, 192] (tiny wav2vec2: 4 x 48), context [Lt, 32]
        using var sd = cache.Load(0);
        Assert.Equal([16L, 3, 4, 4], sd["latents"].shape);
        Assert.Equal([16L, 1, 4, 4], sd["ref_latents"].shape);
        Assert.Equal([9L, 192], sd["audio"].shape);
        Assert.Equal(32, sd["context"].size(1));
        // clips without an image use their first frame: the causal VAE encodes frame 0 alone, so ref = latent frame 0
        var manifest = AvatarManifest.Load(Path.Combine(fx.DataDir, "manifest.csv"));
        int noImage = manifest.Clips.ToList().FindIndex(c => c.Image is null);
        using var s0 = cache.Load(cache.Entries.ToList().FindIndex(e => e.Id == manifest.Clips[noImage].Id));
        using var scope = torch.NewScope();
        Assert.True((s0["ref_latents"] - s0["latents"].narrow(1, 0, 1)).abs().max().item<double>() < 1e-4);
    }
}
