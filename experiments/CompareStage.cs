using AptLab.Evaluation.Standard;
using AptLab.Apt;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// Stage 5: samples of every method from the SAME noise and prompts (held-out captions, or the configured prompts):
/// e.g. the teacher with CFG at several step counts, the CD student in one step, the APT students in one and two
/// steps; decoded by the VAE, measured against held-out real data (Fréchet distance on the documented features,
/// sharpness), written as comparison.csv, PNG sheets, an mp4 grid and a README table. The demo, the compare kind and
/// `aptlab compare` all come here; the sample kind writes the same sheets without the scores.
/// </summary>
public static class CompareStage
{
    /// <summary>A sampled method. <paramref name="Replicate"/>: the training replicate it comes from (null: not trained
    /// per replicate, e.g. the teacher); only methods of no or the first replicate go on the sheets.</summary>
    public sealed record Method(string Name, int Steps, int Nfe, Func<Tensor, Conditioning, Tensor> Generate, Replicate? Replicate = null)
    {
        public bool OnSheets => Replicate is null || Replicate.Index == 0;
    }

    /// <summary>The students of one training replicate.</summary>
    public sealed record ReplicateStudents(Replicate Replicate, WanFlowModel Cd, WanFlowModel AptImage, WanFlowModel? AptVideo);

    /// <summary>The teacher with Euler steps and CFG (0 = the sampling section's guidance/shift).</summary>
    public static Method Teacher(StudyContext ctx, FlowModel teacher, int steps, double guidance = 0, double shift = 0, string? name = null)
    {
        var sc = ctx.Config.Sampling;
        double w = guidance > 0 ? guidance : sc.Guidance, s = shift > 0 ? shift : sc.Shift;
        return new(name ?? $"teacher {steps} steps CFG {w:G4}", steps, TeacherSampler.Nfe(steps, w, true),
            (z, c) => TeacherSampler.Sample(teacher, z, c, ctx.Negative((int)z.size(0)), steps, s, w));
    }

    /// <summary>A one-step generator sampled in one step, or in two (t_m = shift(0.5, s), s = sampling.two_step_shift
    /// unless the method gives one; second noise seeded by the run's seed).</summary>
    public static Method Student(StudyContext ctx, FlowModel model, string name, int steps = 1, double twoStepShift = 0)
    {
        if (steps == 1) return new(name, 1, 1, (z, c) => OneStepGenerator.Generate(model, z, c));
        if (steps != 2) throw new ArgumentException($"{name}: a one-step generator samples in 1 or 2 steps, not {steps}");
        double s = twoStepShift > 0 ? twoStepShift : ctx.Config.Sampling.TwoStepShift;
        return new(name, 2, 2, (z, c) =>
        {
            using var g = new Generator(ctx.Config.Seed + Seeds.TwoStepNoise);
            return OneStepGenerator.GenerateTwoStep(model, z, c, torch.randn(z.shape, generator: g, device: z.device), s);
        });
    }

    /// <summary>The demo's methods: the teacher at compare.teacher_steps, and per training replicate CD 1 step, APT image
    /// phase 1 step and the video-phase APT student in 1 and 2 steps.</summary>
    public static List<Method> DemoMethods(StudyContext ctx, IReadOnlyList<ReplicateStudents> replicates)
    {
        var methods = ctx.Config.Compare.TeacherSteps.Select(steps => Teacher(ctx, ctx.Teacher, steps)).ToList();
        foreach (var r in replicates)
        {
            methods.Add(Student(ctx, r.Cd, "CD 1 step") with { Replicate = r.Replicate });
            methods.Add(Student(ctx, r.AptImage, "APT image phase 1 step") with { Replicate = r.Replicate });
            if (r.AptVideo is not null)
            {
                methods.Add(Student(ctx, r.AptVideo, "APT 1 step") with { Replicate = r.Replicate });
                methods.Add(Student(ctx, r.AptVideo, "APT 2 steps", 2) with { Replicate = r.Replicate });
            }
        }
        return methods;
    }

    /// <summary>Whether clips are compared besides images.</summary>
    public static bool WithVideo(StudyContext ctx) => ctx.Config.Data.TrainVideos > 0 && ctx.Config.Compare.Video;

    /// <summary>Scores every method (of every replicate) against the held-out real samples, per kind: the sheets and
    /// per-kind tables of the first replicate in samples/&lt;kind&gt;/, and the run's comparison.csv, comparison_seeds.csv,
    /// differences.csv, references.csv and README with means, spreads and intervals over the replicates
    /// (<see cref="ComparisonWriter"/>).</summary>
    public static IReadOnlyList<ComparisonWriter.Kind> Run(StudyContext ctx, IReadOnlyList<Method> methods)
    {
        var kinds = new List<ComparisonWriter.Kind>();
        foreach (bool video in WithVideo(ctx) ? new[] { false, true } : new[] { false })
            kinds.Add(Score(ctx, methods, video));
        ComparisonWriter.Write(ctx, kinds);
        return kinds;
    }

    /// <summary>One kind (images or clips): every method sampled from the same noise and prompts, scored per sample;
    /// the references (a second held-out draw, and that draw through the VAE); the sheets of the first replicate.</summary>
    private static ComparisonWriter.Kind Score(StudyContext ctx, IReadOnlyList<Method> methods, bool video)
    {
        string kind = video ? "video" : "image";
        var sheetResults = Evaluate(ctx, methods.Where(m => m.OnSheets).ToList(), video);
        var samples = sheetResults.Select(r => Scored(ctx, r.Method, r.Pixels)).ToList();
        var wall = sheetResults.ToDictionary(r => r.Method, r => r.WallSeconds);
        var outputs = Report(ctx, sheetResults, video);                                  // disposes the pixels
        var others = methods.Where(m => !m.OnSheets).ToList();
        var progress = new Training.ProgressReporter($"compare {kind} seeds", others.Count, ctx.Out, every: 1);
        foreach (var m in others)
        {
            var r = Evaluate(ctx, [m], video, quiet: true)[0];
            samples.Add(Scored(ctx, m, r.Pixels));
            wall[m] = r.WallSeconds;
            r.Pixels.Dispose();
            progress.Report(samples.Count - sheetResults.Count, $"{m.Name} (seed {m.Replicate!.Seed})");
        }
        var (real, _) = ctx.Heldout(video, ctx.Config.Data.HeldoutSamples);
        var (second, _) = ctx.Heldout(video, ctx.Config.Data.HeldoutSamples, draw: 1);
        Tensor reconstruction;
        using (torch.no_grad()) reconstruction = Reconstruct(ctx, second);
        var realScores = Evaluation.ComparisonReport.PerSample(real, "held-out real samples");
        var secondScores = Evaluation.ComparisonReport.PerSample(second, "second held-out draw");
        var reconScores = Evaluation.ComparisonReport.PerSample(reconstruction, "VAE reconstruction of the second held-out draw");
        foreach (var t in new[] { real, second, reconstruction }) t.Dispose();
        var rc = ctx.Config.Replicates;
        var comparison = new Evaluation.SeedComparison(samples, realScores.Features, reconScores.Sharpness,
            new Evaluation.SeedComparisonOptions(rc.Confidence, rc.Bootstrap, ctx.Config.Seed + (video ? Seeds.CompareClips : Seeds.CompareImages)));
        var references = new List<Evaluation.ReferenceRow>
        {
            new("real data, a second held-out draw", Evaluation.FrechetDistance.Compute(secondScores.Features, realScores.Features), secondScores.Sharpness.Average()),
            new("the second draw through the VAE", Evaluation.FrechetDistance.Compute(reconScores.Features, realScores.Features), reconScores.Sharpness.Average()),
        };
        var wallByMethod = methods.GroupBy(m => m.Name).ToDictionary(g => g.Key, g => g.Average(m => wall[m]));
        return new ComparisonWriter.Kind(kind, comparison, references, outputs, wallByMethod);
    }

    private static Evaluation.SeedSamples Scored(StudyContext ctx, Method m, Tensor pixels)
    {
        var (features, sharpness) = Evaluation.ComparisonReport.PerSample(pixels, m.Name);
        return new Evaluation.SeedSamples(m.Name, m.Steps, m.Nfe, m.Replicate?.Seed ?? ctx.Config.Seed, features, sharpness);
    }

    /// <summary>decode(encode(x)) of real pixels [n, 3, T, H, W]: what the VAE keeps of real data, the best a latent
    /// generator's decoded samples can look like.</summary>
    private static Tensor Reconstruct(StudyContext ctx, Tensor pixels)
    {
        var parts = new List<Tensor>();
        for (long i = 0; i < pixels.size(0); i += 32)
        {
            using var scope = torch.NewScope();
            var x = pixels.narrow(0, i, Math.Min(32, pixels.size(0) - i));
            parts.Add(scope.Keep(ctx.Vae.decode(ctx.Vae.encode(x))));
        }
        var all = torch.cat(parts);
        foreach (var p in parts) p.Dispose();
        return all;
    }

    /// <summary>The sample kind: the sheets (PNG, per-method frames, mp4 grid) and samples.csv (steps, NFE, wall
    /// time), no scores.</summary>
    public static void Sample(StudyContext ctx, IReadOnlyList<Method> methods)
    {
        var csv = new System.Text.StringBuilder("kind,method,steps,nfe,wall_seconds\n");
        foreach (bool video in WithVideo(ctx) ? new[] { false, true } : new[] { false })
        {
            var results = Evaluate(ctx, methods, video);
            var prompts = Prompts(ctx, video, ctx.Config.Compare.Samples);
            Evaluation.ComparisonReport.WriteSheets(Path.Combine(ctx.Run.Samples, video ? "video" : "image"),
                results.Select(r => new Evaluation.ComparisonMethod(r.Method.Name, r.Method.Steps, r.Method.Nfe, r.WallSeconds, r.Pixels)).ToList(),
                prompts, new Evaluation.ComparisonOptions(MaxPrompts: ctx.Config.Compare.SheetPrompts));
            foreach (var r in results)
            {
                csv.AppendLine(string.Join(",", video ? "video" : "image", ComparisonWriter.Quote(r.Method.Name), r.Method.Steps, r.Method.Nfe,
                    ComparisonWriter.F(r.WallSeconds)));
                r.Pixels.Dispose();
            }
        }
        Training.RunDirectory.WriteAtomic(ctx.Run.File("samples.csv"), csv.ToString());
    }

    public sealed record ComparisonResult(string Kind, Method Method, Tensor Pixels, double WallSeconds);

    /// <summary>The prompts of the samples: compare.prompts cycled, else the held-out captions.</summary>
    public static string[] Prompts(StudyContext ctx, bool video, int n)
    {
        var given = ctx.Config.Compare.Prompts;
        if (given.Count > 0) return Enumerable.Range(0, n).Select(i => given[i % given.Count]).ToArray();
        return ctx.Heldout(video, n).captions;
    }

    /// <summary>Scores the methods against held-out real samples and writes the sheets, mp4 grid, CSV and table
    /// into samples/&lt;kind&gt;/.</summary>
    private static Evaluation.ComparisonOutputs Report(StudyContext ctx, List<ComparisonResult> results, bool video)
    {
        int n = ctx.Config.Compare.Samples;
        var (real, _) = ctx.Heldout(video, ctx.Config.Data.HeldoutSamples);
        var prompts = Prompts(ctx, video, n);
        var methods = results.Select(r => new Evaluation.ComparisonMethod(r.Method.Name, r.Method.Steps, r.Method.Nfe, r.WallSeconds, r.Pixels)).ToList();
        var outputs = Evaluation.ComparisonReport.Write(Path.Combine(ctx.Run.Samples, video ? "video" : "image"), methods, prompts, real,
            new Evaluation.ComparisonOptions(MaxPrompts: ctx.Config.Compare.SheetPrompts));
        if (ctx.Config.Evaluation is { Metrics.Count: > 0 } standard)
            Evaluation.Standard.ComparisonStandardMetrics.Write(standard, Path.Combine(ctx.Run.Samples, video ? "video" : "image"), real, methods, ctx.Out);
        real.Dispose();
        foreach (var r in results) r.Pixels.Dispose();
        return outputs;
    }

    /// <summary>The latent shape [n, z, f, h, w] of the configured data (images: f = 1).</summary>
    public static long[] LatentShape(StudyContext ctx, int n, bool video)
    {
        var (d, vae) = (ctx.Config.Data, ctx.Vae.config);
        long f = video ? 1 + (d.VideoFrames - 1) / vae.TemporalFactor : 1, hw = d.Size / vae.SpatialFactor;
        return [n, ctx.Config.Vae.ZDim, f, hw, hw];
    }

    /// <summary>Generates <c>compare.samples</c> samples per method (same noise, same prompts), decoded to pixels.</summary>
    private static List<ComparisonResult> Evaluate(StudyContext ctx, IReadOnlyList<Method> methods, bool video, bool quiet = false)
    {
        var cfg = ctx.Config;
        int n = cfg.Compare.Samples;
        var captions = Prompts(ctx, video, n);
        using var g = new Generator(cfg.Seed + (video ? Seeds.CompareClips : Seeds.CompareImages));
        using var z = torch.randn(LatentShape(ctx, n, video), generator: g, device: ctx.Device);
        var results = new List<ComparisonResult>();
        var progress = new Training.ProgressReporter($"compare {(video ? "video" : "image")}", methods.Count, quiet ? TextWriter.Null : ctx.Out, every: 1);
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
                    parts.Add(scope.Keep(ctx.Vae.decode(latent)));
                }
            var pixels = torch.cat(parts).DetachFromScope();
            foreach (var p in parts) p.Dispose();
            results.Add(new ComparisonResult(video ? "video" : "image", m, pixels, sw.Elapsed.TotalSeconds));
            progress.Report(results.Count, $"{m.Name}: {n} samples in {sw.Elapsed.TotalSeconds:F1} s");
        }
        return results;
    }
}
