namespace AptLab.Experiments;

/// <summary>Random training batches of the latent cache.</summary>
public static class Batches
{
    /// <summary>A batch of normalised latents and their captions, drawn with <paramref name="rng"/>.</summary>
    public static (Tensor latents, string[] captions) Sample(StudyContext ctx, bool video, int batch, Generator rng)
    {
        var (x, captions, _) = SampleIndexed(ctx, video, batch, rng);
        return (x, captions);
    }

    /// <summary><see cref="Sample"/> with the drawn sample indices.</summary>
    public static (Tensor latents, string[] captions, long[] indices) SampleIndexed(StudyContext ctx, bool video, int batch, Generator rng)
    {
        var latents = video ? ctx.VideoLatents! : ctx.ImageLatents!;
        var captions = video ? ctx.VideoCaptions : ctx.ImageCaptions;
        using var scope = torch.NewScope();
        var idx = torch.randint(0, latents.size(0), [batch], generator: rng);
        var x = latents.index_select(0, idx.to(latents.device));
        var ids = idx.data<long>().ToArray();
        return (scope.Keep(x), ids.Select(i => captions[i]).ToArray(), ids);
    }
}
