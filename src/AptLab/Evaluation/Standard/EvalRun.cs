using System.Globalization;
using System.Text;
using AptLab.Data.Media;
using AptLab.Evaluation.Sync;

namespace AptLab.Evaluation.Standard;

/// <summary>What `aptlab eval` compares (docs/evaluation.md, "aptlab eval").</summary>
/// <param name="Real">a folder of images/videos, or a statistics .npz (mu, sigma; its dimension says FID 2048 or FVD 400)</param>
/// <param name="Fake">a folder of images/videos (a run folder: its samples)</param>
/// <param name="AudioDir">Sync: audio files named like the fake videos (default: each video's own audio track)</param>
/// <param name="Face">Sync: the face box in the fake videos' pixels (default: the centred square)</param>
public sealed record EvalOptions(string Real, string Fake, EvaluationConfig Config, string OutDir, string? AudioDir = null, FaceBox? Face = null);

/// <summary>One number of an evaluation.</summary>
public sealed record MetricRow(string Metric, double Value, int RealCount, int FakeCount, string Features, string Weights);

/// <summary>`aptlab eval`: the standard metrics of a generated set against a real one, written as metrics.csv, README.md
/// (a table), stats/*.npz (the statistics, reusable as --real) and sync.csv (per video).</summary>
public static class EvalRun
{
    public const string CsvHeader = "metric,value,real_count,fake_count,features,weights";

    public static List<MetricRow> Run(EvalOptions o, TextWriter log)
    {
        var cfg = o.Config;
        if (cfg.Metrics.Count == 0) throw new ArgumentException("no metrics requested (--metrics fid,fvd,sync)");
        foreach (var m in cfg.Metrics)
            if (!EvaluationConfig.Known.Contains(m)) throw new ArgumentException($"--metrics: '{m}' is not one of {string.Join(", ", EvaluationConfig.Known)}");
        if (cfg.FvdFrames < 9) throw new ArgumentException($"--fvd-frames {cfg.FvdFrames}: I3D needs at least 9 frames");
        if (File.Exists(Path.Combine(o.OutDir, "metrics.csv")))
            throw new ArgumentException($"{Path.GetFullPath(o.OutDir)} already holds an evaluation (metrics.csv); choose another --out");
        var fake = EvalMedia.List(o.Fake, "--fake");
        GaussianStatistics? realStats = null;
        List<MediaFile>? real = null;
        bool realIsStats = o.Real.EndsWith(".npz", StringComparison.OrdinalIgnoreCase);
        if (realIsStats) realStats = GaussianStatistics.Load(o.Real);
        else if (cfg.Metrics.Any(m => m != "sync")) real = EvalMedia.List(o.Real, "--real");
        foreach (var m in cfg.Metrics.Where(m => m != "sync"))
            if (realStats is not null && realStats.Dim != (m == "fid" ? Fid.FidInceptionV3.Dims : 400))
                throw new ArgumentException($"--real {o.Real} holds {realStats.Dim}-d statistics, {m.ToUpperInvariant()} needs {(m == "fid" ? 2048 : 400)}-d");

        using var metrics = StandardMetrics.Open(cfg);                       // weights resolved before any work
        Directory.CreateDirectory(o.OutDir);
        var stats = Path.Combine(o.OutDir, "stats");
        var rows = new List<MetricRow>();
        foreach (var m in cfg.Metrics.Distinct())
        {
            var weights = metrics.Weights[m];
            var sw = System.Diagnostics.Stopwatch.StartNew();
            switch (m)
            {
                case "fid":
                    rows.Add(Frechet("FID", realStats, () => metrics.FidFeatures(EvalMedia.FidImages(real!)),
                        () => metrics.FidFeatures(EvalMedia.FidImages(fake)), stats, "Inception-v3 pool3 (2048-d), frame-wise for videos", weights));
                    break;
                case "fvd":
                    rows.Add(Frechet("FVD", realStats, () => metrics.FvdFeatures(EvalMedia.FvdVideos(real!, cfg.FvdFrames)),
                        () => metrics.FvdFeatures(EvalMedia.FvdVideos(fake, cfg.FvdFrames)), stats,
                        $"I3D logits (400-d) of {cfg.FvdFrames}-frame clips at 224x224", weights));
                    break;
                case "sync":
                    rows.AddRange(SyncRows(metrics, fake, o, weights));
                    break;
            }
            log.WriteLine($"[eval] {m}: {sw.Elapsed.TotalSeconds:F1} s");
        }
        Write(o.OutDir, rows, o);
        return rows;
    }

    /// <summary>A Fréchet distance between the real set (statistics, or features computed here) and the generated one;
    /// both statistics are saved to stats/&lt;metric&gt;_{real,fake}.npz. From features on both sides the distance uses the
    /// rows (exact and fast when there are fewer samples than dimensions).</summary>
    private static MetricRow Frechet(string metric, GaussianStatistics? realStats, Func<Tensor> realFeatures, Func<Tensor> fakeFeatures,
        string dir, string features, string weights)
    {
        string key = metric.ToLowerInvariant();
        using var ff = fakeFeatures();
        var f = FrechetDistance.Statistics(ff, $"generated set ({metric} features)");
        f.Save(Path.Combine(dir, key + "_fake.npz"));
        if (realStats is not null) return new(metric, FrechetDistance.Compute(realStats, f), realStats.Count, f.Count, features, weights);
        using var rf = realFeatures();
        var r = FrechetDistance.Statistics(rf, $"real set ({metric} features)");
        r.Save(Path.Combine(dir, key + "_real.npz"));
        return new(metric, FrechetDistance.Compute(rf, ff), r.Count, f.Count, features, weights);
    }

    private static IEnumerable<MetricRow> SyncRows(StandardMetrics metrics, List<MediaFile> fake, EvalOptions o, string weights)
    {
        var videos = fake.Where(f => f.IsVideo).ToList();
        if (videos.Count == 0) throw new InvalidDataException($"Sync: no videos under {Path.GetFullPath(o.Fake)}");
        var csv = new StringBuilder("video,sync_c,sync_d,offset,windows\n");
        double sumC = 0, sumD = 0;
        foreach (var v in videos)
        {
            var frames = Ffmpeg.ReadVideo(v.Path, fps: 25).Frames;                 // SyncNet: 25 fps, 640 samples per frame
            var audio = Ffmpeg.ReadAudio(EvalMedia.AudioFor(v, o.AudioDir), Ffmpeg.SpeechSampleRate);
            var box = o.Face ?? FaceBox.Centre(frames[0].Width, frames[0].Height);
            var s = metrics.Sync(frames, box, audio);
            sumC += s.Confidence; sumD += s.MinDist;
            csv.Append(Csv(v.Name)).Append(',').Append(N(s.Confidence)).Append(',').Append(N(s.MinDist)).Append(',')
               .Append(s.Offset).Append(',').Append(s.Dists.GetLength(0)).Append('\n');
        }
        Training.RunDirectory.WriteAtomic(Path.Combine(o.OutDir, "sync.csv"), csv.ToString());
        string feats = "SyncNet (syncnet_v2) offsets +-15 frames, mean over videos";
        yield return new("Sync-C", sumC / videos.Count, 0, videos.Count, feats, weights);
        yield return new("Sync-D", sumD / videos.Count, 0, videos.Count, feats, weights);
    }

    public static void Write(string outDir, IReadOnlyList<MetricRow> rows, EvalOptions o)
    {
        var csv = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in rows)
            csv.Append(string.Join(",", r.Metric, N(r.Value), r.RealCount, r.FakeCount, Csv(r.Features), Csv(r.Weights))).Append('\n');
        Training.RunDirectory.WriteAtomic(Path.Combine(outDir, "metrics.csv"), csv.ToString());

        var md = new StringBuilder("# Evaluation\n\n");
        md.Append($"Real: `{o.Real}`  \nGenerated: `{o.Fake}`\n\n");
        if (rows.Any(r => r.Weights == StandardMetrics.RandomLabel))
            md.Append($"**Computed with {StandardMetrics.RandomLabel}.** Use them only to check the pipeline.\n\n");
        md.Append("| metric | value | real | generated | features | weights |\n|:--|--:|--:|--:|:--|:--|\n");
        foreach (var r in rows)
            md.Append($"| {r.Metric} | {r.Value.ToString("G6", CultureInfo.InvariantCulture)} | {(r.RealCount > 0 ? r.RealCount : "")} | {r.FakeCount} | {r.Features} | {Path.GetFileName(r.Weights)} |\n");
        md.Append("\nFID and FVD: lower is better, comparable only between sets of equal size (the estimate is biased by about 1/N). ")
          .Append("Sync-C higher and Sync-D lower are better. See docs/evaluation.md.\n");
        Training.RunDirectory.WriteAtomic(Path.Combine(outDir, "README.md"), md.ToString());
    }

    private static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    private static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
