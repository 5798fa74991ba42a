using AptLab.Apt;
using AptLab.Data;
using AptLab.Wan;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// Training batches from a Wan latent cache: per sample "latents" [16, f, h, w] (posterior mean, normalised here
/// with the Wan 2.1 statistics) and "context" [L, text_dim] (zero-padded to text_len).
/// </summary>
public sealed class WanLatentData
{
    private readonly LatentCache cache;
    private readonly long[] shape;
    private readonly WanConfig model;
    private readonly Device device;
    private readonly ScalarType dtype;
    private readonly string key;
    private readonly LatentStats stats = LatentStats.Wan21;

    public int Count => cache.Count;

    public WanLatentData(string folder, long[] shape, WanConfig model, Device device, ScalarType dtype, string key)
    {
        if (!Directory.Exists(folder) || !File.Exists(Path.Combine(folder, "index.jsonl")))
            throw new DirectoryNotFoundException($"config key '{key}': no latent cache (index.jsonl) in {Path.GetFullPath(folder)}");
        (cache, this.shape, this.model, this.device, this.dtype, this.key) = (LatentCache.Open(folder), shape, model, device, dtype, key);
        if (cache.Count == 0) throw new InvalidDataException($"config key '{key}': the latent cache {cache.Root} is empty");
        if (shape[0] != model.InDim) throw new InvalidDataException($"{key}: the DiT takes {model.InDim} latent channels, the data {shape[0]}");
    }

    /// <summary>A batch of <paramref name="size"/> samples drawn uniformly with <paramref name="rng"/>: latents
    /// [B, 16, f, h, w] and their text contexts.</summary>
    public RealBatch Batch(int size, Generator rng)
    {
        using var scope = torch.NewScope();
        var idx = torch.randint(0, cache.Count, [size], generator: rng).data<long>();
        var latents = new List<Tensor>();
        var contexts = new List<Tensor>();
        foreach (var i in idx)
        {
            var (x, c) = Load((int)i);
            latents.Add(x);
            contexts.Add(c);
        }
        var mean = torch.tensor(stats.mean, stats.mean.Length).view(1, -1, 1, 1, 1);
        var std = torch.tensor(stats.std, stats.std.Length).view(1, -1, 1, 1, 1);
        var z = ((torch.stack(latents.ToArray()) - mean) / std).to(device);          // [B, 16, f, h, w]
        var ctx = torch.stack(contexts.ToArray()).to(device);                         // [B, text_len, text_dim]
        return new RealBatch(scope.Keep(z.to(dtype)), new Conditioning(scope.Keep(ctx.to(dtype))));
    }

    private (Tensor latents, Tensor context) Load(int i)
    {
        var entry = cache.Entries[i];
        var file = Path.Combine(cache.Root, entry.File);
        using var s = cache.Load(i);
        if (!s.TryGetValue("latents", out var x))
            throw new InvalidDataException($"{file}: no 'latents' tensor ({key})");
        if (!x.shape.SequenceEqual(shape))
            throw new InvalidDataException($"{file}: latents are [{string.Join(", ", x.shape)}] but {key} needs [{string.Join(", ", shape)}] " +
                                           "(wan image/video size and frames)");
        if (!s.TryGetValue("context", out var c))
            throw new InvalidDataException($"{file}: no 'context' tensor: encode the caption \"{entry.Caption}\" with umT5-XXL first ({key})");
        if (c.dim() != 2 || c.size(1) != model.TextDim || c.size(0) > model.TextLen)
            throw new InvalidDataException($"{file}: context is [{string.Join(", ", c.shape)}], expected [L <= {model.TextLen}, {model.TextDim}]");
        var padded = torch.zeros([model.TextLen, model.TextDim]);
        padded.narrow(0, 0, c.size(0)).copy_(c.to(ScalarType.Float32));
        return (x.to(ScalarType.Float32).clone(), padded);
    }
}
