using AptLab.Wan.Vae;
using AptLab.Data;

namespace AptLab.Avatar.Data;

/// <summary>
/// Training samples read from a <see cref="LatentCache"/> written by <see cref="AvatarCacheEncoder"/>: the stored VAE
/// means are normalised with the VAE's latent statistics ((μ − mean) / std, what the DiT sees) and samples are
/// stacked into <see cref="AvatarBatch"/>es (contexts zero-padded to the longest caption of the batch).
/// </summary>
public sealed class AvatarCachedDataset
{
    public LatentCache Cache { get; }
    private readonly float[] mean, std;

    public AvatarCachedDataset(LatentCache cache, LatentStats stats)
    {
        if (cache.Count == 0) throw new InvalidDataException($"{cache.Root}: the latent cache is empty");
        (Cache, mean, std) = (cache, stats.mean, stats.std);
    }

    public int Count => Cache.Count;

    /// <summary>Samples <paramref name="indices"/> as one batch (tensors in the caller's scope).</summary>
    public AvatarBatch Batch(IReadOnlyList<long> indices)
    {
        using var scope = torch.NewScope();
        var lat = new List<Tensor>(); var refs = new List<Tensor>(); var audio = new List<Tensor>(); var ctx = new List<Tensor>();
        foreach (var i in indices)
        {
            using var sd = Cache.Load((int)i);
            string where = $"{Cache.Root}/{Cache.Entries[(int)i].File}";
            Tensor Get(string key) => sd.TryGetValue(key, out var t) ? t.clone()
                : throw new InvalidDataException($"{where}: no tensor '{key}' (not an OmniAvatar cache sample)");
            lat.Add(Normalize(Get("latents"), where));
            refs.Add(Normalize(Get("ref_latents"), where));
            audio.Add(Get("audio"));
            ctx.Add(Get("context"));
        }
        long lt = ctx.Max(c => c.size(0));
        var padded = ctx.Select(c => c.size(0) == lt ? c : F.pad(c, [0, 0, 0, lt - c.size(0)])).ToList();
        try
        {
            var batch = new AvatarBatch(torch.stack(lat), torch.stack(refs), torch.stack(audio), torch.stack(padded)).Validate();
            return new AvatarBatch(scope.Keep(batch.Latents), scope.Keep(batch.RefLatents), scope.Keep(batch.Audio), scope.Keep(batch.Context));
        }
        catch (TorchException e)
        {
            throw new InvalidDataException($"{Cache.Root}: samples {string.Join(", ", indices)} do not stack into one batch (different clip sizes?): {e.Message}");
        }
    }

    private Tensor Normalize(Tensor mu, string where)                        // mu: [z, F, h, w]
    {
        if (mu.dim() != 4 || mu.size(0) != mean.Length)
            throw new InvalidDataException($"{where}: latents must be [{mean.Length}, F, h, w], got [{string.Join(", ", mu.shape)}]");
        var m = torch.tensor(mean, mean.Length, 1, 1, 1);
        var s = torch.tensor(std, std.Length, 1, 1, 1);
        return (mu.to(ScalarType.Float32) - m) / s;
    }
}
