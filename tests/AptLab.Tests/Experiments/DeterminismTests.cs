using AptLab.Logging;

namespace AptLab.Tests.Experiments;

/// <summary>Two runs of the demo study with the same config, seed and thread count are bit-identical
/// (docs/demo-study.md#determinism): every checkpoint, the scores and the metrics, apart from the timings (the
/// wall_time and wall_seconds columns, the time/* tags).</summary>
[Collection("demo-smoke")]
public class DeterminismTests(DemoSmokeRun demo)
{
    [Fact]
    public void A_second_run_of_demo_smoke_is_bit_identical_apart_from_its_timings()
    {
        var (a, b) = (demo.Run, demo.Again);

        var names = Directory.GetFiles(a.Checkpoints).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(names, Directory.GetFiles(b.Checkpoints).Select(Path.GetFileName).Order().ToList());
        Assert.Contains("cd_seed1000.safetensors", names);                 // the second training seed is compared too
        foreach (var name in names)
            Assert.True(File.ReadAllBytes(Path.Combine(a.Checkpoints, name!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b.Checkpoints, name!))),
                        $"checkpoints/{name} differs between the two runs");

        Assert.Equal(WithoutColumn(a.File("comparison.csv"), "wall_seconds"), WithoutColumn(b.File("comparison.csv"), "wall_seconds"));
        foreach (var f in new[] { "comparison_seeds.csv", "differences.csv", "references.csv" })
            Assert.Equal(File.ReadAllText(a.File(f)), File.ReadAllText(b.File(f)));
        foreach (var kind in new[] { "image", "video" })
            Assert.True(File.ReadAllBytes(Path.Combine(a.Samples, kind, "comparison.png")).AsSpan()
                            .SequenceEqual(File.ReadAllBytes(Path.Combine(b.Samples, kind, "comparison.png"))), $"{kind} sheet differs");

        var (ma, mb) = (Deterministic(a.MetricsCsv), Deterministic(b.MetricsCsv));
        Assert.True(ma.Count > 100, $"only {ma.Count} metric rows");
        Assert.Equal(ma, mb);
        Assert.Contains(File.ReadLines(a.MetricsCsv), l => l.Contains(",time/apt_image_samples_per_s,"));   // the timings exist, apart
        Assert.Contains(File.ReadLines(a.MetricsCsv), l => l.Contains(",time/distill_seed_1000_cpu_seconds,"));
        Assert.Contains($"{torch.get_num_threads()} thread", File.ReadAllText(a.File("README.md")));      // the run names its thread count
    }

    // the CSV's lines without the named column
    private static List<string> WithoutColumn(string path, string column)
    {
        var lines = File.ReadAllLines(path);
        int i = Array.IndexOf(lines[0].Split(','), column);
        Assert.True(i >= 0, $"{path} has no column {column}");
        return lines.Select(l => string.Join(",", l.Split(',').Where((_, k) => k != i))).ToList();
    }

    // metrics.csv rows (step, tag, value) that are not timings
    private static List<string> Deterministic(string path) =>
        File.ReadLines(path).Skip(1).Select(l => l.Split(',')).Where(f => !MetricsCsv.IsTiming(f[1]))
            .Select(f => string.Join(",", f[..3])).ToList();
}
