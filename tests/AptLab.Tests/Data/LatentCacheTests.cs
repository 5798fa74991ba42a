using AptLab.Data;

namespace AptLab.Tests.Data;

public class LatentCacheTests
{
    [Fact]
    public void Samples_round_trip_and_a_reopened_cache_continues()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"aptlab-cache-{Guid.NewGuid():N}");
        try
        {
            var a = torch.randn([16, 2, 4, 4]);
            var b = torch.randn([5, 10752]);
            var cache = LatentCache.Open(dir);
            cache.Add("clip-0", "a red circle moving left", new Dictionary<string, Tensor> { ["latents"] = a, ["audio"] = b });
            var reopened = LatentCache.Open(dir);
            Assert.Equal(1, reopened.Count);
            Assert.True(reopened.Contains("clip-0"));
            Assert.Equal("a red circle moving left", reopened.Entries[0].Caption);
            using (var s = reopened.Load(0))
            {
                Assert.Equal(a.data<float>().ToArray(), s["latents"].data<float>().ToArray());
                Assert.Equal(new long[] { 5, 10752 }, s["audio"].shape);
            }
            reopened.Add("clip-1", "x", new Dictionary<string, Tensor> { ["latents"] = a });
            Assert.Throws<ArgumentException>(() => reopened.Add("clip-1", "x", new Dictionary<string, Tensor> { ["latents"] = a }));
            Assert.Equal(new[] { "clip-0", "clip-1" }, LatentCache.Open(dir).Entries.Select(e => e.Id));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_malformed_index_names_the_file_and_line()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"aptlab-cache-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "index.jsonl"), "{\"id\":\"a\",\"caption\":\"c\",\"file\":\"samples/none.safetensors\"}\n");
            var e = Assert.Throws<InvalidDataException>(() => LatentCache.Open(dir));
            Assert.Contains("index.jsonl:1", e.Message);
            Assert.Contains("missing", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
