using AptLab.Apt;
using AptLab.Data;
using AptLab.Avatar.Apt;

namespace AptLab.Experiments.Avatar;

/// <summary>
/// The training samples of the apt-omniavatar kind: micro-batches drawn uniformly (with the caller's generator) from
/// a <see cref="LatentCache"/> through <see cref="AvatarAptData"/>: image batches are latent frame 0 alone with a fully
/// generated mask, video batches the first <c>video_latent_frames</c> with <c>known_frames</c> marked known.
/// </summary>
public sealed class AvatarAptSamples(LatentCache cache, AvatarAptDataConfig cfg, Device device, ScalarType dtype)
{
    public int Count => cache.Count;
    public string Root => cache.Root;

    public RealBatch Batch(int size, bool video, Generator rng)
    {
        using var scope = torch.NewScope();
        var idx = torch.randint(0, cache.Count, [size], generator: rng).data<long>().Select(i => (int)i).ToArray();
        var b = AvatarAptData.Batch(cache, idx, video ? cfg.VideoLatentFrames : 1, video ? cfg.KnownFrames : 0, dtype);
        var c = b.Condition;
        var moved = new RealBatch(b.Latents.to(device),
            new Conditioning(c.Context.to(device), Y: c.Y!.to(device), Audio: c.Audio!.to(device)));
        scope.Keep(moved.Latents);
        scope.KeepAll([moved.Condition.Context, moved.Condition.Y!, moved.Condition.Audio!]);
        return moved;
    }

    /// <summary>Opens <paramref name="folder"/>; the error names the config key when it holds no samples.</summary>
    public static AvatarAptSamples Open(string folder, AvatarAptDataConfig cfg, Device device, ScalarType dtype)
    {
        if (!File.Exists(Path.Combine(folder, "index.jsonl")))
            throw new DirectoryNotFoundException($"config key 'omniavatar.data.cache': no latent cache (index.jsonl) in {Path.GetFullPath(folder)}");
        var cache = LatentCache.Open(folder);
        if (cache.Count == 0) throw new InvalidDataException($"config key 'omniavatar.data.cache': the latent cache {cache.Root} is empty");
        if (cfg.Height > 0 || cfg.Width > 0)
        {
            using var first = cache.Load(0);
            var shape = first.TryGetValue("latents", out var l) ? l.shape : [];
            if (shape.Length != 4 || (cfg.Height > 0 && shape[2] * 8 != cfg.Height) || (cfg.Width > 0 && shape[3] * 8 != cfg.Width))
                throw new InvalidDataException($"config keys 'omniavatar.data.height/width' ({cfg.Height}x{cfg.Width}): the cache's first sample " +
                                               $"{cache.Root}/{cache.Entries[0].File} has latents [{string.Join(", ", shape)}], frames of {(shape.Length == 4 ? $"{shape[2] * 8}x{shape[3] * 8}" : "?")} pixels");
        }
        return new AvatarAptSamples(cache, cfg, device, dtype);
    }

    /// <summary>Seeded random samples for tiny random-weight runs: latents [16, F, 4, 4] near their reference latent
    /// [16, 1, 4, 4], audio [4F - 3, audio_in_dim], contexts [Lt, text_dim] of 3..6 rows.</summary>
    public static void WriteRandom(string folder, int count, int frames, int audioInDim, int textDim, ulong seed)
    {
        var cache = LatentCache.Open(folder);
        using var g = new Generator(seed);
        for (int i = 0; i < count; i++)
        {
            using var scope = torch.NewScope();
            var reference = torch.randn([16, 1, 4, 4], generator: g);
            cache.Add($"random{i}", $"random sample {i}", new Dictionary<string, Tensor>
            {
                ["latents"] = reference.expand(16, frames, 4, 4) + torch.randn([16, frames, 4, 4], generator: g) * 0.3,
                ["ref_latents"] = reference,
                ["audio"] = torch.randn([4 * frames - 3, audioInDim], generator: g),
                ["context"] = torch.randn([3 + i % 4, textDim], generator: g),
            });
        }
    }
}
