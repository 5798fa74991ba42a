using AptLab.Examples;
using AptLab.Torch.IO;

namespace AptLab.Tests.Distributed;

/// <summary>
/// The APT trainer data-parallel (`aptlab launch --nproc 2 dist-selftest --mode apt`, tiny Wan G and D, R1 and R2
/// on, 2 micro-batches accumulated) against one process at the same effective batch: the 2 ranks draw the global
/// micro-batch of 4 and keep 2 samples each, the single process trains on all 4. In float64 the only difference is
/// the order of float sums, so losses, logits, gradient norms and the final generator and EMA agree to 1e-9;
/// a wrong shard, a missing gradient average or a rank-dependent draw would differ at O(1). In float32 RMSprop's
/// g / sqrt(v) amplifies rounding in near-zero gradients, so that comparison is looser. The 2-rank checkpoint
/// (written by rank 0 after update 2) equals the single process's, key for key, and a single process resuming it
/// continues like the 2 ranks did.
/// </summary>
public class DataParallelAptTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private static string[] Common(bool float64) =>
        ["dist-selftest", "--mode", "apt", "--steps", "3", "--batch", "4", "--accum", "2", "--seed", "5", .. (float64 ? new[] { "--float64" } : [])];

    private static RankProcess Launch(TempDir tmp, string tag, bool float64) => RankProcess.Start(
        ["launch", "--nproc", "2", "--master-port", RankProcess.FreePort().ToString(), "--timeout", "60", .. Common(float64),
         "--out", tmp.File(tag + "-rank{rank}.safetensors"), "--checkpoint", tmp.File(tag + "-ck2.safetensors")],
        new Dictionary<string, string?>());

    private static RankProcess Single(bool float64, params string[] extra) => RankProcess.Start(
        [.. Common(float64), .. extra], new Dictionary<string, string?>());

    private static void Finish(params (RankProcess p, string name)[] runs)
    {
        foreach (var (p, name) in runs)
        {
            Assert.True(p.WaitForExit(Limit), p.Describe(name));
            Assert.True(p.ExitCode == 0, p.Describe(name));
        }
    }

    /// <summary>Largest |a - b| / max(|b|, floor) over the tensors of <paramref name="prefix"/>.</summary>
    private static double RelDiff(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, string prefix, double floor = 1e-3)
    {
        double worst = 0;
        int n = 0;
        foreach (var (k, vb) in b.Where(kv => kv.Key.StartsWith(prefix)))
        {
            using var scope = torch.NewScope();
            var x = a[k].to(ScalarType.Float64);
            var y = vb.to(ScalarType.Float64);
            double d = (x - y).abs().max().item<double>() / Math.Max(y.abs().max().item<double>(), floor);
            worst = Math.Max(worst, d);
            n++;
        }
        Assert.True(n > 0, $"no tensors under '{prefix}'");
        return worst;
    }

    /// <summary>||a - b|| / ||b|| over all tensors of <paramref name="prefix"/> together.</summary>
    private static double RelNorm(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, string prefix)
    {
        double num = 0, den = 0;
        foreach (var (k, vb) in b.Where(kv => kv.Key.StartsWith(prefix)))
        {
            using var scope = torch.NewScope();
            var y = vb.to(ScalarType.Float64);
            num += (a[k].to(ScalarType.Float64) - y).square().sum().item<double>();
            den += y.square().sum().item<double>();
        }
        return Math.Sqrt(num / den);
    }

    private static double[,] Stats(IReadOnlyDictionary<string, Tensor> r)
    {
        var t = r["stats"];
        var v = t.data<double>();
        var m = new double[t.size(0), t.size(1)];
        for (int i = 0; i < m.GetLength(0); i++)
            for (int j = 0; j < m.GetLength(1); j++) m[i, j] = v[i * m.GetLength(1) + j];
        return m;
    }

    /// <summary>Largest relative difference of the stats rows of <paramref name="a"/> and rows
    /// <paramref name="bFirst"/>.. of <paramref name="b"/>.</summary>
    private static double StatsDiff(double[,] a, double[,] b, int bFirst = 0)
    {
        double worst = 0;
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++)
            {
                double x = a[i, j], y = b[bFirst + i, j];
                Assert.True(double.IsFinite(x) && double.IsFinite(y));
                worst = Math.Max(worst, Math.Abs(x - y) / Math.Max(Math.Abs(y), 1e-6));
            }
        return worst;
    }

    [Fact]
    public void TwoRanksReproduceOneProcessAtTheSameEffectiveBatchAndResumeInOneProcess()
    {
        using var tmp = TestPaths.Temp();
        using var launch64 = Launch(tmp, "f64", float64: true);
        using var single64 = Single(true, "--out", tmp.File("f64-single.safetensors"), "--checkpoint", tmp.File("f64-single-ck2.safetensors"));
        Finish((launch64, "launch float64"), (single64, "single float64"));
        // a single process continues the 2 ranks' checkpoint of update 2
        using var resumed = Single(true, "--resume", tmp.File("f64-ck2.safetensors"), "--out", tmp.File("f64-resumed.safetensors"));
        using var launch32 = Launch(tmp, "f32", float64: false);
        using var single32 = Single(false, "--out", tmp.File("f32-single.safetensors"));
        Finish((resumed, "resumed"), (launch32, "launch float32"), (single32, "single float32"));

        Assert.Contains("[rank 0] update 3", launch64.Stdout);
        Assert.Contains("[rank 1] update 3", launch64.Stdout);
        using var r0 = Checkpoint.Load(tmp.File("f64-rank0.safetensors"));
        using var r1 = Checkpoint.Load(tmp.File("f64-rank1.safetensors"));
        using var one = Checkpoint.Load(tmp.File("f64-single.safetensors"));
        using var res = Checkpoint.Load(tmp.File("f64-resumed.safetensors"));
        using var ck2 = Checkpoint.Load(tmp.File("f64-ck2.safetensors"));
        using var ck1 = Checkpoint.Load(tmp.File("f64-single-ck2.safetensors"));

        // both ranks hold bit-identical weights and report identical (global) stats
        Assert.Equal(0.0, RelDiff(r1, r0, "generator."));
        Assert.Equal(0.0, RelDiff(r1, r0, "ema."));
        Assert.Equal(0.0, StatsDiff(Stats(r1), Stats(r0)));

        var sTwo = Stats(r0);
        var sOne = Stats(one);
        Assert.Equal(3, sTwo.GetLength(0));
        Assert.Equal(DataParallelApt.Columns.Length, sTwo.GetLength(1));
        double lossDiff = StatsDiff(sTwo, sOne), genDiff = RelDiff(r0, one, "generator."), emaDiff = RelDiff(r0, one, "ema.");
        Assert.True(lossDiff < 1e-9, $"2 ranks vs 1 process, stats differ by {lossDiff:E2} (relative)");
        Assert.True(genDiff < 1e-9, $"2 ranks vs 1 process, generator differs by {genDiff:E2}");
        Assert.True(emaDiff < 1e-9, $"2 ranks vs 1 process, EMA differs by {emaDiff:E2}");
        // the updates did something: both losses move
        Assert.True(Math.Abs(sOne[2, 0] - sOne[0, 0]) > 1e-3 && Math.Abs(sOne[2, 1] - sOne[0, 1]) > 1e-3);

        // the checkpoint does not depend on the world size: same keys (optimizer state included) and values
        Assert.Equal(ck1.Keys.OrderBy(k => k), ck2.Keys.OrderBy(k => k));
        Assert.Equal("2", ck2.Metadata["step"]);
        Assert.True(RelDiff(ck2, ck1, "") < 1e-9);

        // resuming the 2-rank checkpoint in one process: update 3 and the final weights as the 2 ranks had them
        Assert.Equal(2, res["first_update"].item<long>());
        var sRes = Stats(res);
        Assert.Equal(1, sRes.GetLength(0));
        Assert.True(StatsDiff(sRes, sTwo, bFirst: 2) < 1e-9, $"resumed update 3 differs by {StatsDiff(sRes, sTwo, 2):E2}");
        Assert.True(RelDiff(res, r0, "generator.") < 1e-9);
        Assert.True(RelDiff(res, r0, "ema.") < 1e-9);

        // float32, the precision of real runs: the same, within the optimizer's amplified rounding
        using var t0 = Checkpoint.Load(tmp.File("f32-rank0.safetensors"));
        using var t1 = Checkpoint.Load(tmp.File("f32-single.safetensors"));
        double loss32 = StatsDiff(Stats(t0), Stats(t1)), gen32 = RelNorm(t0, t1, "generator.");
        Assert.True(loss32 < 2e-4, $"float32: 2 ranks vs 1 process, stats differ by {loss32:E2}");
        Assert.True(gen32 < 1e-4, $"float32: generator differs by {gen32:E2} (relative L2)");
        Console.WriteLine($"float64: stats {lossDiff:E2}, generator {genDiff:E2}, EMA {emaDiff:E2}; float32: stats {loss32:E2}, generator {gen32:E2} (relative L2)");
    }
}
