using System.Globalization;
using System.Text;

namespace AptLab.Evaluation.Standard;

/// <summary>
/// The comparison's optional standard metrics (a config's <c>evaluation:</c> section; docs/evaluation.md): FID
/// (frame-wise) of every method's samples against the held-out real samples, and FVD when the clips have at least
/// <see cref="EvaluationConfig.FvdFrames"/> frames, written to standard_metrics.csv beside comparison.csv.
/// </summary>
public static class ComparisonStandardMetrics
{
    public const string CsvHeader = "method,metric,value,real_count,fake_count,weights";

    /// <param name="real">real samples in [-1, 1]: images [N, 3, H, W] or clips [N, 3, T, H, W]</param>
    public static void Write(EvaluationConfig cfg, string dir, Tensor real, IReadOnlyList<ComparisonMethod> methods, TextWriter log)
    {
        var wanted = cfg.Metrics.Where(m => m != "sync").Distinct().ToList();
        if (cfg.Metrics.Contains("sync")) log.WriteLine("[compare] sync skipped: the comparison samples have no audio");
        bool clips = real.dim() == 5;
        if (wanted.Contains("fvd") && (!clips || real.shape[2] < cfg.FvdFrames))
        {
            log.WriteLine($"[compare] FVD skipped: it needs clips of at least {cfg.FvdFrames} frames");
            wanted.Remove("fvd");
        }
        if (wanted.Count == 0) return;
        var sub = new EvaluationConfig { Metrics = wanted, WeightsDir = cfg.WeightsDir, FidWeights = cfg.FidWeights, FvdWeights = cfg.FvdWeights,
            RandomWeights = cfg.RandomWeights, FvdFrames = cfg.FvdFrames };
        using var metrics = StandardMetrics.Open(sub);
        var csv = new StringBuilder(CsvHeader).Append('\n');
        foreach (var m in wanted)
        {
            using var realFeatures = Features(metrics, m, real);
            foreach (var method in methods)
            {
                using var f = Features(metrics, m, method.Samples);
                double v = FrechetDistance.Compute(realFeatures, f);
                csv.Append(string.Join(",", Quote(method.Name), m.ToUpperInvariant(), v.ToString("R", CultureInfo.InvariantCulture),
                    realFeatures.shape[0], f.shape[0], Quote(metrics.Weights[m]))).Append('\n');
                log.WriteLine($"[compare] {method.Name}: {m.ToUpperInvariant()} {v:G5}");
            }
        }
        Training.RunDirectory.WriteAtomic(Path.Combine(dir, "standard_metrics.csv"), csv.ToString());
    }

    private static Tensor Features(StandardMetrics metrics, string metric, Tensor samples)
    {
        using var scope = torch.NewScope();
        var x = ((samples.to(Device.CPU, ScalarType.Float32) + 1) / 2).clamp(0, 1);               // [-1, 1] -> [0, 1]
        if (metric == "fid")
        {
            var frames = x.dim() == 5 ? x.transpose(1, 2).flatten(0, 1) : x;                   // [N*T, 3, H, W]
            return scope.Keep(metrics.FidFeatures(Enumerable.Range(0, (int)frames.shape[0]).Select(i => frames[i].clone())));
        }
        return scope.Keep(metrics.FvdFeatures(Enumerable.Range(0, (int)x.shape[0]).Select(i => ($"sample {i}", x[i].clone()))));
    }

    private static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
