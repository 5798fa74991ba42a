using AptLab.Config;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Distributed;

/// <summary>
/// configs/apt-wan2.1-tiny.yaml (CD, image phase, video phase) through the CLI with `parallel: fsdp` (float32):
/// <list type="bullet">
/// <item>`aptlab launch --nproc 2` and `--nproc 4` against one plain process at the same effective batch (APT micro-batch
/// 4 = 2 x 2 ranks = 1 x 4 ranks; distill.batch is the global batch): every CD and APT scalar of every step and the
/// products (CD student, both EMA generators) and the last full checkpoint (G, D, EMA, both RMSprop states) agree to
/// float32 rounding: the first step of each stage to 3e-5 relative (measured 1.1e-5 at most, 4 ranks), later steps to
/// 1e-3 (RMSprop's sign-like first updates amplify rounding; see MetricsDiff), weights to 1e-5 relative L2. A rank
/// computing the whole CD batch, a wrong shard, a missing reduce-scatter or a stale gather would differ at O(1e-2) or
/// more;</item>
/// <item>the sharded checkpoint the 4 ranks wrote after image update 2 (only its shards kept: each rank's file) resumes
/// in 2 ranks and in one process (a group of one resharding the 4 files) from the copied run folder, and both continue
/// with the losses and products of the uninterrupted 4-rank run.</item>
/// </list>
/// </summary>
public class WanAptLaunchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(240);

    // The tiny config in float32 with the given parallel mode and APT micro-batch (both phases).
    private static string Config(TempDir tmp, string name, string parallel, int microBatch)
    {
        var file = tmp.File(name + ".yaml");
        File.WriteAllText(file, $"""
            base: {Path.Combine(TestPaths.Repo, "configs", "apt-wan2.1-tiny.yaml")}
            precision: fp32
            parallel: {parallel}
            results: {tmp.File("results")}
            apt:
              image: {"{"}micro_batch: {microBatch}{"}"}
              video: {"{"}micro_batch: {microBatch}{"}"}
            """);
        return file;
    }

    private static RankProcess Launch(int n, string config, params string[] extra) => RankProcess.Start(
        n == 1 ? ["run", config, .. extra]
               : ["launch", "--nproc", n.ToString(), "--master-port", RankProcess.FreePort().ToString(), "--timeout", "200", "run", config, .. extra],
        new Dictionary<string, string?>());

    private static void Finish(params (RankProcess p, string name)[] runs)
    {
        foreach (var (p, name) in runs)
        {
            Assert.True(p.WaitForExit(Limit), p.Describe(name));
            Assert.True(p.ExitCode == 0, p.Describe(name));
        }
    }

    private static readonly string[] Scalars = ["loss_d", "loss_g", "r1", "logit_real", "logit_fake", "grad_norm_d", "grad_norm_g"];

    private static IEnumerable<string> Tags(bool cd) =>
        (cd ? new[] { "cd/loss" } : []).Concat(new[] { "apt_image", "apt_video" }.SelectMany(p => Scalars.Select(s => $"{p}/{s}")));

    // Largest relative difference of the series of `tags` (values at the same steps; floor 1e-3), and where: over every
    // step, and over the first step of each stage (CD step 1, image and video update 1), where both sides still hold
    // the same weights, so only the order of float32 sums differs. Later steps differ more: RMSprop's first updates
    // are close to lr sqrt(10) sign(g) (alpha 0.9), so gradient elements near zero whose sign is decided by rounding move
    // a full step either way (measured, 4 ranks vs 1 process: image logit_fake 2.0e-7 at update 1, 3.3e-5 at 2; video
    // 6.7e-8 at 1, 1.0e-4 at 2; the float64 dist-selftest agrees to 1e-12).
    private static (double worst, string where, double first, string firstWhere) MetricsDiff(MetricsTable a, MetricsTable b, IEnumerable<string> tags,
        long fromImageStep = 0)
    {
        double worst = 0, first = 0;
        string where = "", firstWhere = "";
        foreach (var tag in tags)
        {
            var (x, y) = (a.Series(tag), b.Series(tag));
            var steps = y.Steps.Select((s, i) => (s, i)).Where(p => !tag.StartsWith("apt_image") || p.s >= fromImageStep).ToList();
            Assert.Equal(steps.Select(p => p.s), x.Steps);
            for (int j = 0; j < steps.Count; j++)
            {
                double e = y.Values[steps[j].i], v = x.Values[j];
                Assert.True(double.IsFinite(v), $"{tag} step {steps[j].s}: {v}");
                double d = Math.Abs(v - e) / Math.Max(Math.Abs(e), 1e-3);
                if (d > worst) (worst, where) = (d, $"{tag} step {steps[j].s}: {v:G9} vs {e:G9}");
                if (steps[j].s == 1 && d > first) (first, firstWhere) = (d, $"{tag} step 1: {v:G9} vs {e:G9}");
            }
        }
        return (worst, where, first, firstWhere);
    }

    // ||a - b|| / ||b|| over the tensors of b whose key starts with `prefix`
    private static double RelL2(string fileA, string fileB, string prefix = "")
    {
        using var a = Checkpoint.Load(fileA);
        using var b = Checkpoint.Load(fileB);
        double num = 0, den = 0;
        foreach (var k in b.Keys.Where(k => k.StartsWith(prefix)))
        {
            using var scope = torch.NewScope();
            Assert.True(a.ContainsKey(k), $"{fileA}: '{k}' is missing");
            var y = b[k].to(ScalarType.Float64);
            num += (a[k].to(ScalarType.Float64) - y).square().sum().item<double>();
            den += y.square().sum().item<double>();
        }
        Assert.True(den > 0, $"{fileB}: nothing under '{prefix}'");
        return Math.Sqrt(num / den);
    }

    private static string[] Products => ["cd.safetensors", "apt_image_ema.safetensors", "apt_video_ema.safetensors"];

    [Fact]
    public void Fsdp_on_two_and_four_ranks_equals_one_process_and_the_four_ranks_shards_resume_on_two_and_one()
    {
        using var tmp = TestPaths.Temp();
        string name = "apt-wan2.1-tiny";
        string Run(string id) => Path.Combine(tmp.File("results"), name, id);
        string Ck(string id, string file) => Path.Combine(Run(id), "checkpoints", file);

        using (var four = Launch(4, Config(tmp, "four", "fsdp", 1), "--run-id", "four"))
        using (var two = Launch(2, Config(tmp, "two", "fsdp", 2), "--run-id", "two"))
        {
            var cfg = ConfigLoader.Load<ExperimentConfig>(Config(tmp, "one", "ddp", 4));
            ExperimentKinds.Launch(cfg, null, "one", TextWriter.Null);
            Finish((four, "4 ranks"), (two, "2 ranks"));
            Assert.Contains("effective batch 8 (1 x 2 accumulated x 4 rank(s))", four.Stdout);
            Assert.Contains("parallel fsdp over 4 rank(s)", four.Stdout);
        }
        var one = MetricsCsv.Read(Path.Combine(Run("one"), "metrics.csv"));
        Assert.True(Math.Abs(one.Series("apt_image/loss_g").Values[^1] - one.Series("apt_image/loss_g").Values[0]) > 1e-3);   // training moved
        foreach (var id in new[] { "two", "four" })
        {
            var (m, mw, f1, f1w) = MetricsDiff(MetricsCsv.Read(Path.Combine(Run(id), "metrics.csv")), one, Tags(cd: true));
            double p = Products.Max(f => RelL2(Ck(id, f), Ck("one", f)));
            double full = RelL2(Ck(id, "apt_video-step-000002.safetensors"), Ck("one", "apt_video-step-000002.safetensors"));
            output.WriteLine($"{id} ranks (fsdp) vs 1 process: scalars {m:E2} (relative; {mw}), first step of each stage {f1:E2} ({f1w}), " +
                             $"products {p:E2}, last checkpoint {full:E2} (relative L2)");
            Assert.True(f1 < 3e-5 && m < 1e-3 && p < 1e-5 && full < 1e-5,
                $"{id}: scalars {m:E2} ({mw}), first steps {f1:E2} ({f1w}), products {p:E2}, checkpoint {full:E2}");
        }
        Assert.Equal(4, AptLab.Training.ShardedCheckpoint.CompleteWorldSize(Ck("four", "apt_image-step-000002.shards")));

        // the 4 ranks' shards of image update 2, alone, in two copies of the run folder
        foreach (var id in new[] { "r2", "r1" })
        {
            CopyDir(Run("four"), Run(id));
            foreach (var p in Directory.EnumerateFileSystemEntries(Path.Combine(Run(id), "checkpoints")))
            {
                var f = Path.GetFileName(p);
                if (f == "cd.safetensors" || f == "apt_image-step-000002.shards") continue;
                if (Directory.Exists(p)) Directory.Delete(p, true); else File.Delete(p);
            }
            File.WriteAllText(Path.Combine(Run(id), "metrics.csv"), MetricsCsv.Header + "\n");
        }
        // Fewer ranks keep the effective batch with a larger micro-batch: a deliberate config change on resume.
        using (var r2 = Launch(2, Config(tmp, "two", "fsdp", 2), "--resume", Run("r2"), "--allow-config-change"))
        using (var r1 = Launch(1, Config(tmp, "onefsdp", "fsdp", 4), "--resume", Run("r1"), "--allow-config-change"))
        {
            Finish((r2, "2 ranks resumed"), (r1, "1 process resumed"));
            foreach (var (p, id) in new[] { (r2, "r2"), (r1, "r1") })
                Assert.Contains($"resumed from {Ck(id, "apt_image-step-000002.shards")} at update 2", p.Stdout);
        }
        var reference = MetricsCsv.Read(Path.Combine(Run("four"), "metrics.csv"));
        foreach (var id in new[] { "r2", "r1" })
        {
            var m = MetricsCsv.Read(Path.Combine(Run(id), "metrics.csv"));
            Assert.DoesNotContain("cd/loss", m.Tags);                                                   // CD was not run again
            Assert.Equal([3L], m.Series("apt_image/loss_d").Steps);                                     // only update 3 of the image phase
            var (d, dw, _, _) = MetricsDiff(m, reference, Tags(cd: false), fromImageStep: 3);
            double p = Products.Skip(1).Max(f => RelL2(Ck(id, f), Ck("four", f)));
            output.WriteLine($"{id}: resumed from the 4 ranks' shards: scalars {d:E2} ({dw}), products {p:E2}");
            Assert.True(d < 1e-3 && p < 1e-5, $"{id}: scalars {d:E2} ({dw}), products {p:E2}");
        }
    }

    private static void CopyDir(string from, string to)
    {
        foreach (var d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }
}
