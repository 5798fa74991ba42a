using AptLab.Data.Media;
using AptLab.Data.Synthetic;
using AptLab.Evaluation;

namespace AptLab.Tests.Evaluation;

public class ComparisonReportTests
{
    private const int N = 6, T = 3, S = 32;

    /// <summary>Gaussian blur (std 1.5 px) of every frame of clips [N, 3, T, H, W].</summary>
    private static Tensor Blur(Tensor clips)
    {
        var s = clips.shape;
        var frames = clips.reshape(s[0] * 3 * s[2], 1, s[3], s[4]);
        return FilterBank.FilterSame(frames, FilterBank.GaussianKernel(1.5)).view(s);
    }

    [Fact]
    public void Writes_sheets_video_csv_and_markdown()
    {
        using var scope = torch.NewScope();
        using var dir = TestPaths.Temp();
        var data = new MovingShapes(S, T, seed: 2);
        var (teacher, prompts) = data.Batch(0, N);                                   // [6, 3, 3, 32, 32]
        var real = data.Batch(1000, 24).pixels;
        var methods = new List<ComparisonMethod>
        {
            new("teacher 25 steps CFG 5", 25, 50, 12.5, teacher),
            new("CD 1 step", 1, 1, 0.25, Blur(teacher)),
            new("APT 1 step", 1, 1, 0.25, teacher * 0.9 + 0.05),
        };
        var options = new ComparisonOptions(MaxPrompts: 4, FrameSheetClips: 2, Zoom: 2, Fps: 4);
        var outputs = ComparisonReport.Write(dir.Path, methods, prompts, real, options);

        // Scores: the report's numbers are the library's numbers.
        var realFeatures = VideoFeatures.Compute(real);
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(methods[k].Name, outputs.Scores[k].Method);
            Assert.Equal(FrechetDistance.Compute(VideoFeatures.Compute(methods[k].Samples), realFeatures), outputs.Scores[k].FrechetDistance, 9);
            Assert.Equal(Sharpness.MeanLaplacianVariance(methods[k].Samples), outputs.Scores[k].Sharpness, 12);
        }
        Assert.True(outputs.Scores[1].Sharpness < 0.5 * outputs.Scores[0].Sharpness);   // the blurred "CD" row
        Assert.Equal(Sharpness.MeanLaplacianVariance(real), outputs.RealSharpness, 12);

        // CSV re-read: same rows, exact numbers.
        Assert.Equal(ComparisonTable.CsvHeader, File.ReadLines(outputs.CsvPath).First());
        Assert.Equal(outputs.Scores, ComparisonTable.ReadCsv(outputs.CsvPath));

        // Sheet: 4 prompt columns of 64 px tiles (zoom 2), 3 method rows, a header of wrapped prompts.
        int tile = 64, margin = 4, capH = 9 + 2 + 1, lineH = 10;
        int headerLines = prompts.Take(4).Max(p => ComparisonSheet.Wrap(p, (tile + 1) / 6).Count);
        int headerH = margin + headerLines * lineH;
        var sheet = Png.Read(outputs.SheetPath);
        Assert.Equal(margin + 4 * (tile + margin), sheet.Width);
        Assert.Equal(headerH + margin + 3 * (capH + tile + margin), sheet.Height);
        // Row 1 (CD), column 2: its tile shows frame 0 of CD's clip 2, each pixel doubled.
        var expected = TensorImages.ToFrames(methods[1].Samples.select(0, 2))[0];
        int x0 = margin + 2 * (tile + margin), y0 = headerH + margin + 1 * (capH + tile + margin) + capH;
        foreach (var (x, y) in new[] { (0, 0), (13, 7), (31, 31), (16, 20) })
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(expected.Pixels[expected.Index(x, y) + c], sheet.Pixels[sheet.Index(x0 + 2 * x, y0 + 2 * y) + c]);
                Assert.Equal(expected.Pixels[expected.Index(x, y) + c], sheet.Pixels[sheet.Index(x0 + 2 * x + 1, y0 + 2 * y + 1) + c]);
            }
        Assert.Contains(sheet.Pixels.Take(sheet.Width * headerH * 3), p => p == 0);       // prompt text is drawn

        // One all-frames sheet per method, titled with the method's name: every prompt of the sheet (4, more than
        // FrameSheetClips) x 3 frames.
        Assert.Equal(["frames_teacher_25_steps_cfg_5.png", "frames_cd_1_step.png", "frames_apt_1_step.png"],
                     outputs.FrameSheetPaths.Select(Path.GetFileName));
        int titleH = BitmapFont.Height(2) + 2 * margin;
        for (int k = 0; k < 3; k++)
        {
            var fs = Png.Read(outputs.FrameSheetPaths[k]);
            int labelW = prompts.Take(4).Select((p, i) => BitmapFont.MeasureWidth($"{i + 1}: {p}")).Max();
            Assert.Equal(Math.Max(margin + 3 * (tile + margin), 2 * margin + labelW), fs.Width);
            Assert.Equal(titleH + margin + 4 * (capH + tile + margin), fs.Height);
            Assert.Contains(fs.Pixels.Take(fs.Width * titleH * 3), p => p == 0);           // the method's name is drawn
        }
        Assert.NotEqual(Png.Read(outputs.FrameSheetPaths[1]).Pixels.Take(Png.Read(outputs.FrameSheetPaths[1]).Width * titleH * 3),
                        Png.Read(outputs.FrameSheetPaths[2]).Pixels.Take(Png.Read(outputs.FrameSheetPaths[2]).Width * titleH * 3));

        // The mp4 grid: the sheet over T frames.
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");
        var video = Ffmpeg.ReadVideo(outputs.VideoPath!);
        int loops = (int)Math.Ceiling(options.MinVideoSeconds * options.Fps / T);            // looped to a watchable length
        Assert.Equal(T * loops, video.Frames.Count);
        Assert.True(video.Frames.Count / video.Fps >= options.MinVideoSeconds);
        static double Diff(RgbImage a, RgbImage b) => a.Pixels.Zip(b.Pixels).Average(p => Math.Abs(p.First - p.Second));
        for (int f = 0; f < T; f++) Assert.True(Diff(video.Frames[f], video.Frames[f + T]) < 1.5);  // the second loop repeats the first (H.264 noise aside)
        Assert.Equal((sheet.Width + (sheet.Width & 1), sheet.Height + (sheet.Height & 1)), (video.Width, video.Height));
        Assert.Equal(4.0, video.Fps, 3);

        // Markdown: header, alignment row, one row per method, legend; also written to comparison.md.
        var lines = outputs.Markdown.Split('\n');
        Assert.Equal("| Method | Steps | NFE | Wall time (s) | FD (lower is better) | Sharpness |", lines[0]);
        Assert.StartsWith("| teacher 25 steps CFG 5 | 25 | 50 | 12.50 | ", lines[2]);
        Assert.StartsWith("| CD 1 step | 1 | 1 | 0.25 | ", lines[3]);
        Assert.Contains("24 held-out real samples", outputs.Markdown);
        Assert.Equal(outputs.Markdown, File.ReadAllText(outputs.MarkdownPath));
    }

    [Fact]
    public void Images_are_compared_without_a_video()
    {
        using var scope = torch.NewScope();
        using var dir = TestPaths.Temp();
        var data = new MovingShapes(S, 1, seed: 4);
        var (x, prompts) = data.Batch(0, 4);
        var images = x.select(2, 0);                                                    // [4, 3, 32, 32]
        var outputs = ComparisonReport.Write(dir.Path, [new("a", 1, 1, 0, images), new("b", 2, 2, 0, images.flip(3))],
                                             prompts, data.Batch(500, 16).pixels.select(2, 0));
        Assert.Null(outputs.VideoPath);
        Assert.Equal(2, ComparisonTable.ReadCsv(outputs.CsvPath).Count);
        var real = ImageFeatures.Compute(data.Batch(500, 16).pixels.select(2, 0));
        Assert.Equal(FrechetDistance.Compute(ImageFeatures.Compute(images), real), outputs.Scores[0].FrechetDistance, 9);
        var sheet = Png.Read(outputs.SheetPath);
        Assert.Equal(4 + 4 * (128 + 4), sheet.Width);                                    // automatic zoom: 128 / 32 = 4
    }

    [Fact]
    public void Csv_round_trips_awkward_names_and_markdown_formats_numbers()
    {
        using var dir = TestPaths.Temp();
        var scores = new List<ComparisonScore>
        {
            new("teacher, 25 steps \"CFG 5\"", 25, 50, 123.456789, 0.1 + 0.2, 1.0 / 3),
            new("APT | 1 step", 1, 1, 0.5, double.NaN, 12345.678),
        };
        var path = dir.File("scores.csv");
        ComparisonTable.WriteCsv(path, scores);
        Assert.Equal("\"teacher, 25 steps \"\"CFG 5\"\"\",25,50,123.456789,0.30000000000000004,0.3333333333333333", File.ReadLines(path).ElementAt(1));
        Assert.Equal(scores, ComparisonTable.ReadCsv(path));
        var md = ComparisonTable.ToMarkdown(scores, realSharpness: 0.04567, realCount: 256).Split('\n');
        Assert.Equal("| teacher, 25 steps \"CFG 5\" | 25 | 50 | 123.46 | 0.3 | 0.3333 |", md[2]);
        Assert.Equal("| APT \\| 1 step | 1 | 1 | 0.50 | nan | 12346 |", md[3]);
        Assert.Contains("(held-out real data: 0.04567; closer is better)", md[5]);
        File.WriteAllText(path, "method,steps\nx,1\n");
        Assert.Contains("line 1", Assert.Throws<FormatException>(() => ComparisonTable.ReadCsv(path)).Message);
    }

    [Fact]
    public void Wrap_breaks_at_words_and_cuts_long_words()
    {
        Assert.Equal(["a magenta", "triangle", "moving", "down"], ComparisonSheet.Wrap("a magenta triangle moving down", 10));
        Assert.Equal(["a red circle", "moving left"], ComparisonSheet.Wrap("a red circle moving left", 12));
        Assert.Equal(["abcd", "efgh", "ij k"], ComparisonSheet.Wrap("abcdefghij k", 4));
        Assert.Equal([""], ComparisonSheet.Wrap("", 5));
    }

    [Fact]
    public void Mismatched_inputs_are_clear_errors()
    {
        using var scope = torch.NewScope();
        using var dir = TestPaths.Temp();
        var a = torch.zeros(4, 3, 2, 16, 16);
        var e = Assert.Throws<ArgumentException>(() => ComparisonReport.Score([new("a", 1, 1, 0, a), new("b", 1, 1, 0, torch.zeros(5, 3, 2, 16, 16))], a));
        Assert.Contains("b: samples are [5, 3, 2, 16, 16]", e.Message);
        e = Assert.Throws<ArgumentException>(() => ComparisonReport.Score([new("a", 1, 1, 0, a)], torch.zeros(8, 3, 3, 16, 16)));
        Assert.Contains("held-out real samples are [8, 3, 3, 16, 16]", e.Message);
        e = Assert.Throws<ArgumentException>(() => ComparisonReport.Write(dir.Path, [new("a", 1, 1, 0, a)], ["p"], a));
        Assert.Contains("4 samples per method but 1 prompts", e.Message);
        e = Assert.Throws<ArgumentException>(() => ComparisonReport.Score([new("a", 1, 1, 0, a), new("a", 1, 1, 0, a)], a));
        Assert.Contains("'a' appears twice", e.Message);
        e = Assert.Throws<ArgumentException>(() => ComparisonReport.Score([new("a", 1, 1, -1, a)], a));
        Assert.Contains("a: wall time", e.Message);
        e = Assert.Throws<ArgumentException>(() => ComparisonReport.Write(dir.Path, [new("a", 1, 1, 0, a)], ["p", "q", "r", "s"], a, new ComparisonOptions(Fps: 0)));
        Assert.Contains("Fps", e.Message);
    }
}
