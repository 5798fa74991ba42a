using AptLab.Apt;
using AptLab.Data.Media;

namespace AptLab.Experiments;

/// <summary>
/// Sample sheets in TensorBoard while a one-step generator trains (CD student, APT generator's EMA): every
/// <c>sample_every</c> updates the model samples <see cref="Count"/> held-out captions in one step from the SAME fixed
/// noise (seed + <see cref="Seeds.PreviewImages"/> / <see cref="Seeds.PreviewClips"/>), the VAE decodes them, and the
/// grid goes to the images tab under <c>&lt;stage&gt;/samples</c> (images: one row; clips: one row per clip, its frames
/// across). Same noise and prompts at every step, so the sheets show the model's progress, not new draws. The preview
/// draws from its own generator and runs without gradients, so it changes none of the training's numbers.
/// </summary>
public static class SamplePreview
{
    /// <summary>Images per sheet; clips per sheet are half of it.</summary>
    public const int Count = 8;

    /// <summary>Whether a sheet is due after update <paramref name="step"/> (every &lt;= 0: never).</summary>
    public static bool Due(int every, long step) => every > 0 && step % every == 0;

    /// <summary>Logs the sheet of <paramref name="model"/> at <paramref name="step"/> as <c>&lt;stage&gt;/samples</c> (the stage's prefix, so a resume truncates it with the stage's scalars).
    /// Every rank of a launch calls it (the model may be sharded); rank 0's logger writes.</summary>
    public static void Log(StudyContext ctx, string stage, long step, FlowModel model, bool video)
    {
        using var scope = torch.NewScope();
        using var noGrad = torch.no_grad();
        int n = video ? Count / 2 : Count;
        var (_, captions) = ctx.Heldout(video, n);
        using var g = new Generator(ctx.Config.Seed + (video ? Seeds.PreviewClips : Seeds.PreviewImages));
        var z = torch.randn(CompareStage.LatentShape(ctx, n, video), generator: g).to(ctx.Device);   // [n, z, f, h, w]
        bool training = model.Module.training;
        model.Module.eval();
        var pixels = ctx.Vae.decode(OneStepGenerator.Generate(model, z, ctx.Condition(captions)).to(z.dtype));   // [n, 3, T, H, W] in [-1, 1]
        model.Module.train(training);
        var tiles = new List<RgbImage>();
        for (long i = 0; i < n; i++) tiles.AddRange(TensorImages.ToFrames(pixels[i]));
        ctx.Log.Images(step, $"{stage}/samples", tiles, columns: video ? tiles.Count / n : n);
    }
}
