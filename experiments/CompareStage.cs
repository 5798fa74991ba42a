using AptLab.Apt;
using AptLab.Data.Media;

namespace AptLab.Experiments;

/// <summary>
/// Stage 5: samples of every method from the SAME noise and prompts (held-out captions): the teacher with CFG at the
/// configured step counts, the CD student in one step, and the APT students in one and two steps; decoded by the VAE,
/// measured against held-out real data (Fréchet distance on the documented features, sharpness), written as
/// comparison.csv, PNG sheets, an mp4 grid and a README table.
/// </summary>
public static class CompareStage
{
    public sealed record Method(string Name, int Steps, int Nfe, Func<Tensor, Conditioning, Tensor> Generate);

    public static void Run(StudyContext ctx, WanFlowModel cd, WanFlowModel aptImage, WanFlowModel? aptVideo)
    {
        var cfg = ctx.Config;
        var tc = cfg.Teacher;
        var methods = new List<Method>();
        foreach (var steps in cfg.Compare.TeacherSteps)
            methods.Add(new($"teacher {steps} steps CFG {tc.Guidance}", steps, TeacherSampler.Nfe(steps, tc.Guidance, true),
                (z, c) => TeacherSampler.Sample(ctx.Teacher, z, c, ctx.Negative((int)z.size(0)), steps, tc.Shift, tc.Guidance)));
        methods.Add(new("CD 1 step", 1, 1, (z, c) => OneStepGenerator.Generate(cd, z, c)));
        methods.Add(new("APT image phase 1 step", 1, 1, (z, c) => OneStepGenerator.Generate(aptImage, z, c)));
        if (aptVideo is not null)
        {
            methods.Add(new("APT 1 step", 1, 1, (z, c) => OneStepGenerator.Generate(aptVideo, z, c)));
            methods.Add(new("APT 2 steps", 2, 2, (z, c) =>
            {
                using var g = new Generator(cfg.Seed + 77);
                return OneStepGenerator.GenerateTwoStep(aptVideo, z, c, torch.randn(z.shape, generator: g, device: z.device), cfg.Apt.Video.DiscriminatorShift);
            }));
        }
        var reports = new List<(string kind, Evaluation.ComparisonOutputs outputs)>();
        reports.Add(("image", Report(ctx, Evaluate(ctx, methods, video: false), video: false)));
        if (ctx.VideoLatents is not null) reports.Add(("video", Report(ctx, Evaluate(ctx, methods, video: true), video: true)));
        ComparisonWriter.Write(ctx, reports);
    }

    public sealed record ComparisonResult(string Kind, Method Method, Tensor Pixels, double WallSeconds);

    /// <summary>Scores the methods against held-out real samples and writes the sheets, mp4 grid, CSV and table
    /// into samples/&lt;kind&gt;/.</summary>
    private static Evaluation.ComparisonOutputs Report(StudyContext ctx, List<ComparisonResult> results, bool video)
    {
        int n = ctx.Config.Compare.Samples;
        var (real, _) = ctx.Heldout(video, ctx.Config.Data.HeldoutSamples);
        var (_, prompts) = ctx.Heldout(video, n);
        var methods = results.Select(r => new Evaluation.ComparisonMethod(r.Method.Name, r.Method.Steps, r.Method.Nfe, r.WallSeconds, r.Pixels)).ToList();
        var outputs = Evaluation.ComparisonReport.Write(Path.Combine(ctx.Run.Samples, video ? "video" : "image"), methods, prompts, real,
            new Evaluation.ComparisonOptions(MaxPrompts: ctx.Config.Compare.SheetPrompts));
        real.Dispose();
        foreach (var r in results) r.Pixels.Dispose();
        return outputs;
    }

    /// <summary>Generates <c>compare.samples</c> samples per method (same noise, same prompts), decoded to pixels.</summary>
    private static List<ComparisonResult> Evaluate(StudyContext ctx, List<Method> methods, bool video)
    {
        var cfg = ctx.Config;
        int n = cfg.Compare.Samples;
        var (_, captions) = ctx.Heldout(video, n);
        var template = video ? ctx.VideoLatents! : ctx.ImageLatents!;
        var shape = new long[] { n, template.size(1), template.size(2), template.size(3), template.size(4) };
        using var g = new Generator(cfg.Seed + (video ? 99UL : 88UL));
        using var z = torch.randn(shape, generator: g, device: ctx.Device);
        var results = new List<ComparisonResult>();
        foreach (var m in methods)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var parts = new List<Tensor>();
            using (torch.no_grad())
                for (int i = 0; i < n; i += 32)
                {
                    using var scope = torch.NewScope();
                    int b = Math.Min(32, n - i);
                    var caps = captions.Skip(i).Take(b).ToArray();
                    var latent = m.Generate(z.narrow(0, i, b), ctx.Condition(caps));
                    parts.Add(scope.Keep(ctx.Vae.decode(ctx.Vae.denormalize(latent))));
                }
            var pixels = torch.cat(parts).DetachFromScope();
            foreach (var p in parts) p.Dispose();
            results.Add(new ComparisonResult(video ? "video" : "image", m, pixels, sw.Elapsed.TotalSeconds));
            ctx.Out.WriteLine($"[compare] {(video ? "video" : "image")}: {m.Name}: {n} samples in {sw.Elapsed.TotalSeconds:F1} s");
        }
        return results;
    }
}
