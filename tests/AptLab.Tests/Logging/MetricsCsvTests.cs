using AptLab.Logging;

namespace AptLab.Tests.Logging;

public class MetricsCsvTests
{
    private static Func<double> Clock(double start) { double t = start; return () => t += 1; }

    [Fact]
    public void ResumeAppendsWithoutASecondHeaderAndNewTagsAppear()
    {
        using var tmp = TestPaths.Temp();
        var path = tmp.File("run/metrics.csv");
        using (var m = new MetricsCsv(path, clock: Clock(100)))
        {
            m.Log(0, "train/loss", 2.0);
            m.Log(1, [new("train/loss", 1.5), new("lr", 1e-4)]);
        }
        using (var m = new MetricsCsv(path, clock: Clock(200)))          // a restarted process
        {
            m.Log(2, "train/loss", 1.25);
            m.Log(2, "eval/fid", 30.5);                                  // a tag that first appears late
        }
        var lines = File.ReadAllLines(path);
        Assert.Equal(MetricsCsv.Header, lines[0]);
        Assert.Single(lines, l => l == MetricsCsv.Header);
        Assert.Equal(6, lines.Length);

        var t = MetricsCsv.Read(path);
        Assert.Equal(["train/loss", "lr", "eval/fid"], t.Tags);
        var loss = t.Series("train/loss");
        Assert.Equal([0L, 1, 2], loss.Steps);
        Assert.Equal([2.0, 1.5, 1.25], loss.Values);
        Assert.Equal([101.0, 102, 201], loss.WallTimes);
        Assert.Equal(1e-4, t.Series("lr").Values.Single());
        Assert.Contains("eval/fid", Assert.Throws<KeyNotFoundException>(() => t.Series("nope")).Message);
    }

    [Fact]
    public void EachLogIsFlushedAndReadableWhileOpen()
    {
        using var tmp = TestPaths.Temp();
        using var m = new MetricsCsv(tmp.File("m.csv"));
        m.Log(7, "x", 0.1 + 0.2);
        var s = MetricsCsv.Read(m.FilePath).Series("x");
        Assert.Equal(0.1 + 0.2, s.Values.Single());                     // round-trip precision
    }

    [Fact]
    public void ResumeAfterStepDropsLaterRowsAndPartialLines()
    {
        using var tmp = TestPaths.Temp();
        var path = tmp.File("m.csv");
        using (var m = new MetricsCsv(path))
            for (int s = 0; s < 10; s++) m.Log(s, "loss", s);
        File.AppendAllText(path, "10,loss,1");                           // a row cut off by a crash
        Assert.Equal(10, MetricsCsv.Read(path).Series("loss").Steps.Length);   // the reader ignores it

        using (var m = new MetricsCsv(path, resumeAfterStep: 5))          // resumed from the step-5 checkpoint
            m.Log(6, "loss", 60);
        var s2 = MetricsCsv.Read(path).Series("loss");
        Assert.Equal([0L, 1, 2, 3, 4, 5, 6], s2.Steps);
        Assert.Equal(60, s2.Values[^1]);
    }

    [Fact]
    public void NonFiniteValuesRoundTrip()
    {
        using var tmp = TestPaths.Temp();
        using (var m = new MetricsCsv(tmp.File("m.csv")))
            m.Log(1, [new("a", double.NaN), new("b", double.PositiveInfinity), new("c", double.NegativeInfinity)]);
        var t = MetricsCsv.Read(tmp.File("m.csv"));
        Assert.True(double.IsNaN(t.Series("a").Values[0]));
        Assert.Equal(double.PositiveInfinity, t.Series("b").Values[0]);
        Assert.Equal(double.NegativeInfinity, t.Series("c").Values[0]);
        Assert.Contains("1,a,nan,", File.ReadAllText(tmp.File("m.csv")));
    }

    [Fact]
    public void BadFilesAndTagsAreNamed()
    {
        using var tmp = TestPaths.Temp();
        var path = tmp.File("other.csv");
        File.WriteAllText(path, "epoch,acc\n1,0.5\n");
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => new MetricsCsv(path)).Message);
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => MetricsCsv.Read(path)).Message);
        using var m = new MetricsCsv(tmp.File("m.csv"));
        Assert.Contains("a,b", Assert.Throws<ArgumentException>(() => m.Log(1, "a,b", 1)).Message);
    }
}
