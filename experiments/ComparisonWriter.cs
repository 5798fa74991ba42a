using System.Globalization;
using System.Text;
using AptLab.Evaluation;

namespace AptLab.Experiments;

/// <summary>
/// The run-level summary of the comparison (docs/demo-study.md): <c>comparison.csv</c> (one row per kind and method:
/// mean, sd and interval over the training replicates), <c>comparison_seeds.csv</c> (one row per replicate),
/// <c>differences.csv</c> (APT students minus the CD student, paired by seed), <c>references.csv</c> (the noise floor and
/// the VAE's reconstruction) and the run's README.md with the tables and the verdict, which calls a difference only where
/// its interval excludes zero. <see cref="WhereItStands"/> is the same as a section to paste into the repository README.
/// </summary>
public static class ComparisonWriter
{
    public const string CsvHeader = "kind,method,steps,nfe,seeds,wall_seconds,frechet_distance,frechet_distance_sd,frechet_distance_lo," +
                                    "frechet_distance_hi,sharpness,sharpness_sd,sharpness_lo,sharpness_hi";
    public const string SeedsHeader = "kind,method,seed,frechet_distance,sharpness";
    public const string DifferencesHeader = "kind,method,baseline,metric,seeds,paired,mean,lo,hi,resolved";
    public const string ReferencesHeader = "kind,reference,frechet_distance,sharpness";
    /// <summary>The baseline every APT student is compared with.</summary>
    public const string Baseline = "CD 1 step";

    /// <summary>One kind's scores: the comparison over replicates, the reference rows, the first replicate's sheets and
    /// the mean wall time of each method's sampling.</summary>
    public sealed record Kind(string Name, SeedComparison Comparison, IReadOnlyList<ReferenceRow> References, ComparisonOutputs Sheets,
                              IReadOnlyDictionary<string, double> WallSeconds);

    public static void Write(StudyContext ctx, IReadOnlyList<Kind> kinds)
    {
        var csv = new StringBuilder(CsvHeader + "\n");
        var seeds = new StringBuilder(SeedsHeader + "\n");
        var diffs = new StringBuilder(DifferencesHeader + "\n");
        var refs = new StringBuilder(ReferencesHeader + "\n");
        foreach (var k in kinds)
        {
            foreach (var m in k.Comparison.Methods)
            {
                var (fd, sh) = (m.FrechetDistance, m.Sharpness);
                csv.AppendLine(string.Join(",", k.Name, Quote(m.Method), m.Steps, m.Nfe, m.Seeds.Count, F(k.WallSeconds[m.Method]),
                    F(fd.Mean), F(fd.Sd), F(fd.Lo), F(fd.Hi), F(sh.Mean), F(sh.Sd), F(sh.Lo), F(sh.Hi)));
                for (int i = 0; i < m.Seeds.Count; i++)
                    seeds.AppendLine(string.Join(",", k.Name, Quote(m.Method), m.Seeds[i], F(m.SeedFrechetDistances[i]), F(m.SeedSharpness[i])));
                ctx.Log.Scalar(0, $"compare_{k.Name}/fd/{m.Method}", fd.Mean);
                ctx.Log.Scalar(0, $"compare_{k.Name}/sharpness/{m.Method}", sh.Mean);
            }
            foreach (var d in Differences(k.Comparison))
                diffs.AppendLine(string.Join(",", k.Name, Quote(d.Method), Quote(d.Baseline), MetricName(d.Metric), d.Value.N, d.PairedBySeed ? 1 : 0,
                    F(d.Value.Mean), F(d.Value.Lo), F(d.Value.Hi), d.Value.Sign));
            foreach (var r in k.References) refs.AppendLine(string.Join(",", k.Name, Quote(r.Name), F(r.FrechetDistance), F(r.Sharpness)));
            ctx.Log.Text(0, $"compare/{k.Name}_table", SeedReport.Table(k.Comparison, k.References));   // TensorBoard's text tab
        }
        Training.RunDirectory.WriteAtomic(ctx.Run.File("comparison.csv"), csv.ToString());
        Training.RunDirectory.WriteAtomic(ctx.Run.File("comparison_seeds.csv"), seeds.ToString());
        Training.RunDirectory.WriteAtomic(ctx.Run.File("differences.csv"), diffs.ToString());
        Training.RunDirectory.WriteAtomic(ctx.Run.File("references.csv"), refs.ToString());

        var md = new StringBuilder();
        md.AppendLine($"# {ctx.Config.Name}: one-step vs multi-step").AppendLine();
        md.AppendLine($"Run `{ctx.Run.RunId}` of `{ctx.Config.Experiment}` (config: `config.yaml`), {Plural(torch.get_num_threads(), "thread")}: " +
                     "results are bit-identical only between runs with the same thread count (README#reliability-threads-and-determinism).").AppendLine();
        md.Append(Body(ctx, kinds, headingLevel: 2));
        foreach (var k in kinds)
            md.AppendLine($"Sheets of seed {ctx.Config.Seed} ({k.Name}s): `samples/{k.Name}/comparison.png`" +
                          (k.Sheets.VideoPath is null ? "" : $", video grid: `samples/{k.Name}/comparison.mp4`") + ".");
        md.AppendLine().AppendLine("Per-seed values: `comparison_seeds.csv`; the differences: `differences.csv`.");
        Training.RunDirectory.WriteAtomic(ctx.Run.File("README.md"), md.ToString());
        ctx.Out.WriteLine();
        ctx.Out.WriteLine(md.ToString());
    }

    /// <summary>The differences the verdict reads: every APT student minus the CD student on FD, sharpness and the
    /// sharpness gap to the VAE reconstruction of real data.</summary>
    public static IEnumerable<Difference> Differences(SeedComparison c)
    {
        if (!c.Has(Baseline)) yield break;
        foreach (var m in c.Methods.Where(m => m.Method.StartsWith("APT", StringComparison.Ordinal)))
            foreach (var metric in new[] { DifferenceMetric.FrechetDistance, DifferenceMetric.Sharpness, DifferenceMetric.SharpnessGap })
                yield return c.Compare(m.Method, Baseline, metric);
    }

    /// <summary>The tables and the verdict (what the run's README and <see cref="WhereItStands"/> share).</summary>
    public static string Body(StudyContext ctx, IReadOnlyList<Kind> kinds, int headingLevel)
    {
        var h = new string('#', headingLevel);
        var rc = ctx.Config.Replicates;
        var seedList = Replicate.All(ctx.Config).Select(r => r.Seed.ToString(CultureInfo.InvariantCulture)).ToList();
        int pct = (int)Math.Round(rc.Confidence * 100);
        var md = new StringBuilder();
        md.AppendLine($"{Plural(rc.Count, "training seed")} ({string.Join(", ", seedList)}) of consistency distillation" +
                      (rc.Distill ? "" : " (one, seed " + ctx.Config.Seed + ")") + " and APT on one foundation (VAE, text encoder, teacher; seed " +
                      $"{ctx.Config.Seed}), {ctx.Config.Compare.Samples} samples per method and seed from the same noise and prompts, scored against " +
                      $"{ctx.Config.Data.HeldoutSamples} held-out real samples. FD: Fréchet distance on AptLab's image/video features (lower is " +
                      "better); sharpness: mean Laplacian variance of the luma (closer to the reference is better). Mean ± sd over the seeds; " +
                      $"the {pct} % interval adds the seeds' Student-t interval and the evaluation samples' bootstrap ({rc.Bootstrap} resamples) in " +
                      "quadrature (docs/evaluation.md#seeds-and-intervals). A second held-out draw gives the FD noise floor; the same draw " +
                      "encoded and decoded by the VAE is the reference of detail a latent generator can reach.").AppendLine();
        foreach (var k in kinds)
        {
            md.AppendLine($"{h} {char.ToUpper(k.Name[0]) + k.Name[1..]}s").AppendLine();
            md.AppendLine(SeedReport.Table(k.Comparison, k.References));
        }
        md.AppendLine($"{h} APT vs consistency distillation").AppendLine();
        md.AppendLine($"A difference is stated only where its {pct} % interval excludes 0; the pairing is by training seed (APT seed s " +
                      "starts from CD seed s). Sharpness gap: |sharpness − that of the real data through the VAE|.").AppendLine();
        foreach (var k in kinds)
        {
            var lines = Differences(k.Comparison).Select(SeedReport.Line).ToList();
            if (lines.Count == 0) continue;
            foreach (var l in lines) md.AppendLine($"- {k.Name}s: {l}");
            if (k.Comparison.Has("APT 1 step") && k.Comparison.Has(Baseline) &&
                SeedReport.SharperWithoutWorseFd(k.Comparison, "APT 1 step", Baseline) is bool shown)
                md.AppendLine($"- **{k.Name}s: APT 1 step sharper than CD 1 step and closer to the real data's detail, without a worse FD: " +
                              $"{(shown ? "shown" : "not shown")}.**");
        }
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>The "Where it stands" section of the repository README from this run: the run id, thread count, seeds,
    /// CPU and wall time per stage (this process), the tables and the verdict. The demo writes it to where-it-stands.md
    /// after the comparison; `aptlab` prints nothing else to paste.</summary>
    public static string WhereItStands(StudyContext ctx, IReadOnlyList<Kind> kinds)
    {
        var md = new StringBuilder();
        md.AppendLine($"**Where it stands** (run `{ctx.Run.RunId}` of `configs/{ctx.Config.Name}.yaml`, {Plural(torch.get_num_threads(), "thread")}; " +
                      "regenerate with `make demo` and paste its `where-it-stands.md`).").AppendLine();
        md.Append(StageTimes(ctx));
        md.Append(Body(ctx, kinds, headingLevel: 4));
        return md.ToString();
    }

    /// <summary>"CPU time: vae 290 s, teacher ..., total ..." from the run's time/* metrics.</summary>
    private static string StageTimes(StudyContext ctx)
    {
        if (!File.Exists(ctx.Run.MetricsCsv)) return "";
        var table = Logging.MetricsCsv.Read(ctx.Run.MetricsCsv);
        var cpu = table.All.Where(s => s.Tag.StartsWith("time/", StringComparison.Ordinal) && s.Tag.EndsWith("_cpu_seconds", StringComparison.Ordinal)).ToList();
        if (cpu.Count == 0) return "";
        string Stage(string tag) => tag["time/".Length..^"_cpu_seconds".Length];
        double Wall(string stage) => table.Contains($"time/{stage}_seconds") ? table.Series($"time/{stage}_seconds").Values[^1] : double.NaN;
        var parts = cpu.Select(s => $"{Stage(s.Tag).Replace('_', ' ')} {s.Values[^1]:F0} s ({Wall(Stage(s.Tag)):F0} s)");
        double total = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        return $"CPU time per stage (wall time in brackets): {string.Join(", ", parts)}; the whole process {total / 60:F1} min of CPU.\n\n";
    }

    private static string MetricName(DifferenceMetric m) => m switch
    {
        DifferenceMetric.FrechetDistance => "frechet_distance",
        DifferenceMetric.Sharpness => "sharpness",
        _ => "sharpness_gap",
    };

    private static string Plural(int n, string what) => $"{n} {what}{(n == 1 ? "" : "s")}";

    internal static string F(double v) => double.IsNaN(v) ? "nan" : v.ToString("R", CultureInfo.InvariantCulture);
    internal static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
