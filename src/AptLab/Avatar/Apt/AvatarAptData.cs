using AptLab.Data;
using AptLab.Apt;

namespace AptLab.Avatar.Apt;

/// <summary>
/// Real micro-batches for APT / CD with an OmniAvatar teacher from a <see cref="LatentCache"/> whose samples hold
/// "latents" [16, F', h, w], "ref_latents" [16, 1, h, w], "audio" [>= 4F - 3, audio_in_dim] and "context" [Lt, text_dim].
/// A sample becomes the first <c>F</c> latent frames, y = cat(reference latent repeated over the F frames, mask)
/// [17, F, h, w] with mask 0 for the first <c>knownFrames</c> frames and 1 after (docs/omniavatar.md#conditioning: 0 = known), the
/// audio rows of those frames (4F - 3 rows: AudioPack repeats row 0 for latent frame 0) and the context; contexts of
/// different lengths are zero-padded to the longest (the DiT pads them to text_len with zeros anyway).
/// Image phase: F = 1, knownFrames = 0 (latent frame 0 alone is an image latent: the VAE is causal).
/// </summary>
public static class AvatarAptData
{
    public static RealBatch Batch(LatentCache cache, IReadOnlyList<int> indices, int latentFrames, int knownFrames, ScalarType dtype = ScalarType.Float32)
    {
        if (indices.Count == 0) throw new ArgumentException("AvatarAptData: no sample index given");
        if (latentFrames < 1 || knownFrames < 0 || knownFrames > latentFrames)
            throw new ArgumentException($"AvatarAptData: latent frames {latentFrames} must be >= 1 and known frames {knownFrames} in [0, {latentFrames}]");
        using var scope = torch.NewScope();
        var x = new List<Tensor>(); var y = new List<Tensor>(); var audio = new List<Tensor>(); var ctx = new List<Tensor>();
        long audioRows = 4L * latentFrames - 3;
        foreach (int i in indices)
        {
            if (i < 0 || i >= cache.Count) throw new ArgumentOutOfRangeException(nameof(indices), i, $"the cache {cache.Root} has {cache.Count} samples");
            using var sd = cache.Load(i);
            string where = $"{cache.Root}/{cache.Entries[i].File}";
            Tensor Get(string name, int dims) => sd.TryGetValue(name, out var t) && t.dim() == dims ? t.to(dtype)
                : throw new InvalidDataException($"{where}: tensor \"{name}\" must be present with {dims} dims" + (t is null ? " (absent)" : $", got [{string.Join(", ", t.shape)}]"));
            var lat = Get("latents", 4);                                                       // [16, F', h, w]
            var r = Get("ref_latents", 4);                                                     // [16, 1, h, w]
            var a = Get("audio", 2);                                                           // [A, C]
            var c = Get("context", 2);                                                         // [Lt, text_dim]
            if (lat.size(1) < latentFrames) throw new InvalidDataException($"{where}: \"latents\" has {lat.size(1)} latent frames, {latentFrames} needed");
            if (r.size(1) != 1 || r.size(0) != lat.size(0) || !r.shape[2..].SequenceEqual(lat.shape[2..]))
                throw new InvalidDataException($"{where}: \"ref_latents\" [{string.Join(", ", r.shape)}] must be [{lat.size(0)}, 1, {lat.size(2)}, {lat.size(3)}]");
            if (a.size(0) < audioRows) throw new InvalidDataException($"{where}: \"audio\" has {a.size(0)} rows, {audioRows} needed for {latentFrames} latent frames");
            long h = lat.size(2), w = lat.size(3);
            var mask = torch.cat([torch.zeros([1, knownFrames, h, w], dtype), torch.ones([1, latentFrames - knownFrames, h, w], dtype)], 1);
            x.Add(lat.narrow(1, 0, latentFrames));
            y.Add(torch.cat([r.expand(r.size(0), latentFrames, h, w), mask], 0));            // [17, F, h, w]
            audio.Add(a.narrow(0, 0, audioRows));
            ctx.Add(c);
        }
        long lt = ctx.Max(c => c.size(0));
        var padded = ctx.Select(c => c.size(0) == lt ? c : F.pad(c, [0, 0, 0, lt - c.size(0)])).ToList();
        var cond = new Conditioning(scope.Keep(torch.stack(padded)), Y: scope.Keep(torch.stack(y)), Audio: scope.Keep(torch.stack(audio)));
        return new RealBatch(scope.Keep(torch.stack(x)), cond);
    }
}
