using AptLab.Data.Media;

namespace AptLab.Evaluation;

/// <summary>
/// One method's samples for a comparison. <paramref name="Samples"/>: [N, 3, T, H, W] (or images [N, 3, H, W])
/// in [-1, 1], generated from the same noise and prompts as every other method's.
/// </summary>
public sealed record ComparisonMethod(string Name, int Steps, int Nfe, double WallSeconds, Tensor Samples);

/// <summary>Layout and encoding options of <see cref="ComparisonReport.Write"/>.</summary>
/// <param name="MaxPrompts">columns of the sheet and the mp4 grid (the first prompts); scores use all samples</param>
/// <param name="FrameSheetClips">clips (rows) on each method's all-frames sheet</param>
/// <param name="Zoom">integer enlargement of every tile; 0 picks round(128 / width), at least 1</param>
/// <param name="Fps">frame rate of the mp4 grid (slow enough to follow a 5-frame clip)</param>
/// <param name="WriteVideo">write the mp4 grid when clips have more than one frame (needs ffmpeg)</param>
/// <param name="MinVideoSeconds">the mp4 grid loops the clips until it lasts at least this long</param>
public sealed record ComparisonOptions(int MaxPrompts = 8, int FrameSheetClips = 4, int Zoom = 0, double Fps = 4,
                                       int FontScale = 1, int Margin = 4, bool WriteVideo = true, double MinVideoSeconds = 6)
{
    public void Validate()
    {
        if (MaxPrompts < 1) throw new ArgumentException($"comparison option MaxPrompts must be >= 1, got {MaxPrompts}");
        if (FrameSheetClips < 1) throw new ArgumentException($"comparison option FrameSheetClips must be >= 1, got {FrameSheetClips}");
        if (Zoom < 0) throw new ArgumentException($"comparison option Zoom must be >= 0 (0 = automatic), got {Zoom}");
        if (!(Fps > 0)) throw new ArgumentException($"comparison option Fps must be positive, got {Fps}");
        if (FontScale < 1) throw new ArgumentException($"comparison option FontScale must be >= 1, got {FontScale}");
        if (Margin < 0) throw new ArgumentException($"comparison option Margin must be >= 0, got {Margin}");
    }
}

/// <summary>Everything <see cref="ComparisonReport.Write"/> produced.</summary>
public sealed record ComparisonOutputs(IReadOnlyList<ComparisonScore> Scores, double RealSharpness, string SheetPath,
                                       IReadOnlyList<string> FrameSheetPaths, string? VideoPath, string CsvPath,
                                       string MarkdownPath, string Markdown);

/// <summary>
/// The artefacts of <c>aptlab compare</c> for methods sampled from the same noise and prompts (e.g. "teacher 25
/// steps CFG 5", "CD 1 step", "APT 1 step"): scores against held-out real data, a PNG sheet (rows = methods,
/// columns = prompts, first frame), one all-frames sheet per method, an mp4 grid (the sheet over time), a CSV
/// and a Markdown table. File names in the output folder: comparison.png, frames_&lt;method&gt;.png,
/// comparison.mp4, comparison.csv, comparison.md.
/// </summary>
public static class ComparisonReport
{
    /// <summary>
    /// FD to <paramref name="real"/> [M, 3, T, H, W] (image features for T = 1, video features otherwise) and
    /// mean Laplacian-variance sharpness, per method.
    /// </summary>
    public static IReadOnlyList<ComparisonScore> Score(IReadOnlyList<ComparisonMethod> methods, Tensor real)
    {
        var shape = CheckMethods(methods);
        CheckReal(ClipShape(real, "held-out real samples"), shape);
        using var scope = torch.NewScope();
        var realClips = AsClips(real, "held-out real samples");
        var realStats = FrechetDistance.Statistics(Features(realClips), "held-out real samples");
        var scores = new List<ComparisonScore>();
        foreach (var m in methods)
        {
            using var inner = torch.NewScope();
            var clips = AsClips(m.Samples, m.Name);
            double fd = FrechetDistance.Compute(FrechetDistance.Statistics(Features(clips), m.Name), realStats);
            scores.Add(new ComparisonScore(m.Name, m.Steps, m.Nfe, m.WallSeconds, fd, Sharpness.MeanLaplacianVariance(clips)));
        }
        return scores;
    }

    /// <summary>Per-sample scores of <paramref name="samples"/> [N, 3, T, H, W] (or images [N, 3, H, W]) for a
    /// <see cref="SeedComparison"/>: the features [N, D] the FD is computed on, and the Laplacian-variance sharpness [N].</summary>
    public static (double[,] Features, double[] Sharpness) PerSample(Tensor samples, string what)
    {
        using var scope = torch.NewScope();
        var clips = AsClips(samples, what);
        return (FrechetDistance.ToArray(Features(clips), what), Sharpness.LaplacianVariance(clips));
    }

    /// <summary>Scores the methods and writes every artefact into <paramref name="outputDir"/>.</summary>
    public static ComparisonOutputs Write(string outputDir, IReadOnlyList<ComparisonMethod> methods, IReadOnlyList<string> prompts,
                                          Tensor real, ComparisonOptions? options = null)
    {
        options ??= new ComparisonOptions();
        options.Validate();
        var shape = CheckMethods(methods);
        if (prompts.Count != shape[0])
            throw new ArgumentException($"comparison has {shape[0]} samples per method but {prompts.Count} prompts");
        CheckReal(ClipShape(real, "held-out real samples"), shape);
        using var scope = torch.NewScope();
        Directory.CreateDirectory(outputDir);

        var scores = Score(methods, real);
        double realSharpness = Sharpness.MeanLaplacianVariance(AsClips(real, "held-out real samples"));
        var (sheetPath, frameSheets, videoPath) = WriteSheets(outputDir, methods, prompts, options);

        var csvPath = Path.Combine(outputDir, "comparison.csv");
        ComparisonTable.WriteCsv(csvPath, scores);
        var markdown = ComparisonTable.ToMarkdown(scores, realSharpness, (int)real.shape[0]);
        var mdPath = Path.Combine(outputDir, "comparison.md");
        File.WriteAllText(mdPath, markdown);
        return new ComparisonOutputs(scores, realSharpness, sheetPath, frameSheets, videoPath, csvPath, mdPath, markdown);
    }

    /// <summary>The sheets without scores (what the sample kind writes): comparison.png, frames_&lt;method&gt;.png
    /// and, for clips, comparison.mp4 in <paramref name="outputDir"/>.</summary>
    public static (string SheetPath, IReadOnlyList<string> FrameSheetPaths, string? VideoPath) WriteSheets(string outputDir,
        IReadOnlyList<ComparisonMethod> methods, IReadOnlyList<string> prompts, ComparisonOptions? options = null)
    {
        options ??= new ComparisonOptions();
        options.Validate();
        var shape = CheckMethods(methods);
        if (prompts.Count != shape[0])
            throw new ArgumentException($"comparison has {shape[0]} samples per method but {prompts.Count} prompts");
        using var scope = torch.NewScope();
        Directory.CreateDirectory(outputDir);
        long n = shape[0], t = shape[2], w = shape[4];
        int cols = (int)Math.Min(n, options.MaxPrompts);
        int zoom = options.Zoom > 0 ? options.Zoom : Math.Max(1, (int)Math.Round(128.0 / w));
        // frames[method][clip][t]: the first clips that appear anywhere in the outputs, zoomed.
        int clipsNeeded = (int)Math.Min(n, Math.Max(cols, options.FrameSheetClips));
        var frames = methods.Select(m =>
        {
            var clips = AsClips(m.Samples, m.Name);
            return Enumerable.Range(0, clipsNeeded).Select(i =>
            {
                using var clip = clips.select(0, i);                                   // [3, T, H, W]
                return TensorImages.ToFrames(clip).Select(f => ComparisonSheet.Zoom(f, zoom)).ToList();
            }).ToList();
        }).ToList();
        var captions = prompts.Take(cols).ToList();

        RgbImage GridAt(int frame) => ComparisonSheet.Build(
            methods.Select((m, k) => (m.Name, (IReadOnlyList<RgbImage>)frames[k].Take(cols).Select(c => c[frame]).ToList())).ToList(),
            captions, options.Margin, options.FontScale);

        var sheetPath = Path.Combine(outputDir, "comparison.png");
        Png.Write(sheetPath, GridAt(0));

        var frameSheets = new List<string>();
        int sheetClips = (int)Math.Min(n, Math.Max(options.FrameSheetClips, cols));       // at least every prompt of the sheet
        var usedNames = new HashSet<string>();
        for (int k = 0; k < methods.Count; k++)
        {
            var rows = Enumerable.Range(0, sheetClips)
                .Select(i => ($"{i + 1}: {prompts[i]}", (IReadOnlyList<RgbImage>)frames[k][i])).ToList();
            var path = Path.Combine(outputDir, $"frames_{Slug(methods[k].Name, usedNames)}.png");
            Png.Write(path, Titled(ImageGrid.ContactSheet(rows, options.Margin, options.FontScale), methods[k].Name, options));
            frameSheets.Add(path);
        }

        string? videoPath = null;
        if (options.WriteVideo && t > 1)
        {
            videoPath = Path.Combine(outputDir, "comparison.mp4");
            var clip = Enumerable.Range(0, (int)t).Select(GridAt).ToList();
            int loops = Math.Max(1, (int)Math.Ceiling(options.MinVideoSeconds * options.Fps / t));   // a 5-frame clip is a blink once
            Ffmpeg.WriteVideo(videoPath, Enumerable.Repeat(clip, loops).SelectMany(c => c).ToList(), options.Fps);
        }

        return (sheetPath, frameSheets, videoPath);
    }

    /// <summary><paramref name="sheet"/> under a title strip naming the method.</summary>
    private static RgbImage Titled(RgbImage sheet, string title, ComparisonOptions options)
    {
        int h = BitmapFont.Height(options.FontScale * 2) + 2 * options.Margin;
        var titled = new RgbImage(sheet.Width, sheet.Height + h);
        Array.Fill(titled.Pixels, (byte)255);
        BitmapFont.Draw(titled, title, options.Margin, options.Margin, ((byte)0, (byte)0, (byte)0), options.FontScale * 2);
        titled.Blit(sheet, 0, h);
        return titled;
    }

    // clips [N, 3, T, H, W] -> features [N, D] (image features when T = 1)
    private static Tensor Features(Tensor clips) =>
        clips.shape[2] == 1 ? ImageFeatures.Compute(clips.select(2, 0)) : VideoFeatures.Compute(clips);

    /// <summary>[N, 3, H, W] as [N, 3, 1, H, W]; [N, 3, T, H, W] unchanged; anything else an error naming <paramref name="what"/>.</summary>
    private static Tensor AsClips(Tensor x, string what)
    {
        var s = ClipShape(x, what);
        return x.dim() == 5 ? x : x.reshape(s);
    }

    /// <summary>The [N, 3, T, H, W] shape of samples given as clips or images.</summary>
    private static long[] ClipShape(Tensor x, string what)
    {
        var s = x.shape;
        if (s.Length == 4 && s[1] == 3) return [s[0], 3, 1, s[2], s[3]];
        if (s.Length == 5 && s[1] == 3) return s;
        throw new ArgumentException($"{what}: samples must be [N, 3, T, H, W] or [N, 3, H, W]; got [{string.Join(", ", s)}]");
    }

    // Every method: a name, sane costs, and samples of one shape [N, 3, T, H, W]. Returns that shape.
    private static long[] CheckMethods(IReadOnlyList<ComparisonMethod> methods)
    {
        if (methods.Count == 0) throw new ArgumentException("comparison needs at least one method");
        long[]? shape = null;
        var names = new HashSet<string>();
        foreach (var m in methods)
        {
            if (string.IsNullOrWhiteSpace(m.Name)) throw new ArgumentException("comparison method has an empty name");
            if (!names.Add(m.Name)) throw new ArgumentException($"comparison method '{m.Name}' appears twice");
            if (m.Steps < 0 || m.Nfe < 0) throw new ArgumentException($"{m.Name}: steps and NFE must be >= 0, got {m.Steps} and {m.Nfe}");
            if (!(m.WallSeconds >= 0) || double.IsInfinity(m.WallSeconds))
                throw new ArgumentException($"{m.Name}: wall time must be a finite number of seconds >= 0, got {m.WallSeconds}");
            var s = ClipShape(m.Samples, m.Name);
            if (s[0] < 2) throw new ArgumentException($"{m.Name}: needs at least 2 samples for a Fréchet distance, got {s[0]}");
            if (shape is null) shape = s;
            else if (!shape.SequenceEqual(s))
                throw new ArgumentException($"{m.Name}: samples are [{string.Join(", ", s)}] but {methods[0].Name}'s are [{string.Join(", ", shape)}]; " +
                                            "every method must sample the same prompts and noise");
        }
        return shape!;
    }

    private static void CheckReal(long[] s, long[] shape)
    {
        if (s[0] < 2) throw new ArgumentException($"held-out real samples: need at least 2, got {s[0]}");
        if (s[2] != shape[2] || s[3] != shape[3] || s[4] != shape[4])
            throw new ArgumentException($"held-out real samples are [{string.Join(", ", s)}] but the methods' are [{string.Join(", ", shape)}]; " +
                                        "frames, height and width must match");
    }

    /// <summary>A file-name-safe, unique form of a method name ("APT 1 step" -> "apt_1_step").</summary>
    private static string Slug(string name, HashSet<string> used)
    {
        var chars = name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray();
        var slug = string.Join("_", new string(chars).Split('_', StringSplitOptions.RemoveEmptyEntries));
        if (slug.Length == 0) slug = "method";
        var unique = slug;
        for (int i = 2; !used.Add(unique); i++) unique = $"{slug}_{i}";
        return unique;
    }
}
