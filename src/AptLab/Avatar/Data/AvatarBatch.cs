namespace AptLab.Avatar.Data;

/// <summary>
/// One micro-batch of encoded OmniAvatar training clips (all of one size).
/// </summary>
/// <param name="Latents">[B, 16, F, h, w] normalised VAE latents of the clip (F = 1 + (L − 1)/4)</param>
/// <param name="RefLatents">[B, 16, 1, h, w] normalised latent of the reference image</param>
/// <param name="Audio">[B, L, C] audio features, row k aligned with video frame k (L = 4F − 3, C = 10752 for wav2vec2-base)</param>
/// <param name="Context">[B, Lt, text_dim] text embeddings, rows past each caption's length zero</param>
public sealed record AvatarBatch(Tensor Latents, Tensor RefLatents, Tensor Audio, Tensor Context)
{
    /// <summary>Checks the shapes agree with each other; the message names the tensor.</summary>
    public AvatarBatch Validate()
    {
        if (Latents.dim() != 5) throw new ArgumentException($"AvatarBatch: latents must be [B, C, F, h, w], got [{Shape(Latents)}]");
        long b = Latents.size(0), c = Latents.size(1), f = Latents.size(2), h = Latents.size(3), w = Latents.size(4);
        if (RefLatents.dim() != 5 || RefLatents.size(0) != b || RefLatents.size(1) != c || RefLatents.size(2) != 1 || RefLatents.size(3) != h || RefLatents.size(4) != w)
            throw new ArgumentException($"AvatarBatch: ref_latents must be [{b}, {c}, 1, {h}, {w}], got [{Shape(RefLatents)}]");
        if (Audio.dim() != 3 || Audio.size(0) != b || Audio.size(1) != 4 * f - 3)
            throw new ArgumentException($"AvatarBatch: audio must be [{b}, {4 * f - 3}, C] (4F − 3 video frames for F = {f} latent frames), got [{Shape(Audio)}]");
        if (Context.dim() != 3 || Context.size(0) != b)
            throw new ArgumentException($"AvatarBatch: context must be [{b}, Lt, text_dim], got [{Shape(Context)}]");
        return this;
    }

    public long Size => Latents.size(0);

    /// <summary>Rows <c>rank, rank + world, rank + 2·world, …</c> of every tensor: the share of one rank of a global
    /// micro-batch laid out as <see cref="DistributedSampler"/> interleaves samples over ranks.</summary>
    public AvatarBatch Rows(int rank, int world) => world == 1 ? this :
        new AvatarBatch(Interleaved.Rows(Latents, rank, world), Interleaved.Rows(RefLatents, rank, world),
                        Interleaved.Rows(Audio, rank, world), Interleaved.Rows(Context, rank, world));

    private static string Shape(Tensor t) => string.Join(", ", t.shape);
}

/// <summary>
/// The interleaved layout of a global micro-batch over ranks: global row <c>j·world + rank</c> is local row j of rank
/// <c>rank</c>, which is how <see cref="DistributedSampler"/> deals out an epoch (rank r gets positions r, r + world, …).
/// Random draws made for the global batch and sliced this way give each rank exactly what one process training on the
/// global batch uses for the same samples.
/// </summary>
public static class Interleaved
{
    /// <summary>global [world·b, ...] → this rank's [b, ...].</summary>
    public static Tensor Rows(Tensor global, int rank, int world)
    {
        if (world == 1) return global;
        long n = global.size(0);
        if (n % world != 0) throw new ArgumentException($"a global batch of {n} rows does not split over {world} ranks");
        using var scope = torch.NewScope();
        var shape = global.shape.ToArray();
        long[] split = [n / world, world, .. shape[1..]];
        return scope.Keep(global.reshape(split).select(1, rank).contiguous());
    }

    /// <summary>The same for an array of per-sample values.</summary>
    public static T[] Rows<T>(T[] global, int rank, int world)
    {
        if (global.Length % world != 0) throw new ArgumentException($"{global.Length} values do not split over {world} ranks");
        return Enumerable.Range(0, global.Length / world).Select(j => global[j * world + rank]).ToArray();
    }
}
