using AptLab.Logging;
using AptLab.Logging.Plots;
using Microsoft.Data.Analysis;

namespace AptLab.Tests.Logging;

/// <summary>RunReader: a run's files as DataFrames, read exactly as the writers wrote them.</summary>
public class RunReaderTests
{
    private static string MakeRun(string root, string name)
    {
        var dir = Path.Combine(root, "demo", name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void MetricsComeBackAsWrittenIncludingNonFiniteValuesAndAPartialLastRow()
    {
        using var tmp = TestPaths.Temp();
        var dir = MakeRun(tmp.Path, "a");
        double t = 100;
        using (var csv = new MetricsCsv(Path.Combine(dir, "metrics.csv"), clock: () => t += 0.5))
        {
            csv.Log(1, new Dictionary<string, double> { ["apt/loss_d"] = 1.0 / 3, ["apt/r1"] = double.NaN });
            csv.Log(2, new Dictionary<string, double> { ["apt/loss_d"] = double.PositiveInfinity, ["apt/r1"] = -1e-300 });
        }
        File.AppendAllText(Path.Combine(dir, "metrics.csv"), "3,apt/loss_d,0.5");       // a row cut off mid-write
        var run = RunReader.Open(dir);
        Assert.Equal("demo/a", run.Name);
        var df = run.Metrics();
        Assert.Equal(["step", "tag", "value", "wall_time"], df.Columns.Select(c => c.Name));
        Assert.Equal(4, df.Rows.Count);
        Assert.IsType<Int64DataFrameColumn>(df["step"]);
        Assert.IsType<DoubleDataFrameColumn>(df["value"]);                              // not float: 1/3 keeps all its digits
        Assert.Equal(1.0 / 3, (double)df["value"][0]);
        Assert.True(double.IsNaN((double)df["value"][1]));
        Assert.Equal(double.PositiveInfinity, (double)df["value"][2]);
        Assert.Equal(-1e-300, (double)df["value"][3]);
        Assert.Equal(100.5, (double)df["wall_time"][0]);
        Assert.Equal(["apt/loss_d", "apt/r1"], run.Tags);
        Assert.Equal([1L, 2L], run.Series("apt/loss_d").Steps);
        Assert.Contains("no metric 'nope'", Assert.Throws<KeyNotFoundException>(() => run.Series("nope")).Message);

        var summary = run.Summary();
        Assert.Equal(["tag", "points", "last_step", "last", "min", "min_step"], summary.Columns.Select(c => c.Name));
        Assert.Equal(-1e-300, (double)summary["min"][1]);                                // NaN is not a minimum
        Assert.Equal(2L, (long)summary["min_step"][1]);

        File.WriteAllText(Path.Combine(dir, "metrics.csv"), "step,tag,value\n1,a,2\n");
        Assert.Contains("not a metrics CSV", Assert.Throws<InvalidDataException>(() => RunReader.Open(dir).Metrics()).Message);
        File.WriteAllText(Path.Combine(dir, "metrics.csv"), "step,tag,value,wall_time\n1,a,x,2\n");
        Assert.Contains("'x' is not a number", Assert.Throws<InvalidDataException>(() => RunReader.Open(dir).Metrics()).Message);
    }

    [Fact]
    public void ComparisonAndConfigAreTypedTables()
    {
        using var tmp = TestPaths.Temp();
        var dir = MakeRun(tmp.Path, "b");
        File.WriteAllText(Path.Combine(dir, "comparison.csv"),
            "kind,method,steps,nfe,wall_seconds,frechet_distance,sharpness\nimage,\"teacher 25 steps, CFG 4\",25,50,10.5,12.64,0.01662\nvideo,APT 1 step,1,1,0.25,nan,0.008\n");
        File.WriteAllText(Path.Combine(dir, "config.yaml"), "experiment: demo\napt:\n  image:\n    updates: 150\n  head_layers: [1, 2]\ncompare:\n  methods:\n  - name: cd\n    steps: 1\n");
        var run = RunReader.Open(dir);
        var c = run.Comparison();
        Assert.Equal("teacher 25 steps, CFG 4", (string)c["method"][0]);
        Assert.Equal(50L, (long)c["nfe"][0]);
        Assert.Equal(12.64, (double)c["frechet_distance"][0]);
        Assert.True(double.IsNaN((double)c["frechet_distance"][1]));
        var cfg = run.ConfigValues();
        Assert.Equal(new Dictionary<string, string>
        {
            ["experiment"] = "demo", ["apt.image.updates"] = "150", ["apt.head_layers"] = "[1, 2]",
            ["compare.methods[0].name"] = "cd", ["compare.methods[0].steps"] = "1",
        }, cfg);
        Assert.Equal(5, run.Config().Rows.Count);

        File.WriteAllText(Path.Combine(dir, "comparison.csv"), "kind,method,steps\nimage,a,1\n");
        Assert.Contains("no column 'nfe'", Assert.Throws<InvalidDataException>(() => run.Comparison()).Message);
        Assert.Throws<DirectoryNotFoundException>(() => RunReader.Open(Path.Combine(tmp.Path, "missing")));
    }

    [Fact]
    public void RunsSideBySideHaveAColumnPerRunAndNanWhereATagIsMissing()
    {
        using var tmp = TestPaths.Temp();
        var a = MakeRun(tmp.Path, "a");
        var b = MakeRun(tmp.Path, "b");
        using (var csv = new MetricsCsv(Path.Combine(a, "metrics.csv")))
            for (int s = 1; s <= 8; s++) csv.Log(s, new Dictionary<string, double> { ["x"] = s, ["only_a"] = 1 });
        using (var csv = new MetricsCsv(Path.Combine(b, "metrics.csv")))
            for (int s = 1; s <= 8; s++) csv.Log(s, "x", 10 * s);
        var runs = new[] { RunReader.Open(a), RunReader.Open(b) };
        Assert.Equal(["x"], RunReader.CommonTags(runs));
        var final = RunReader.FinalValues(runs, ["x", "only_a"]);
        Assert.Equal(["tag", "demo/a", "demo/b"], final.Columns.Select(c => c.Name));
        Assert.Equal(8.0, (double)final["demo/a"][0]);
        Assert.Equal(80.0, (double)final["demo/b"][0]);
        Assert.True(double.IsNaN((double)final["demo/b"][1]));
        var tail = RunReader.TailMeans(runs);                                             // steps 1..8: the last quarter starts at 6
        Assert.Equal((6 + 7 + 8) / 3.0, (double)tail["demo/a"][0]);

        var plots = RunPlots.Write(a, Path.Combine(tmp.Path, "plots"));
        Assert.Empty(plots);                                                             // x and only_a are no training curves
        Assert.False(Directory.Exists(Path.Combine(a, "plots")));
    }
}
