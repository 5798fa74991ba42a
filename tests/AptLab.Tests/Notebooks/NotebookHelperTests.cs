using System.Xml.Linq;
using AptLab.Notebooks;

namespace AptLab.Tests.Notebooks;

public class NotebookHelperTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        key => vars.FirstOrDefault(v => v.Key == key).Value;

    private static string MakeRun(string root, string experiment, string id, DateTime written)
    {
        var dir = Path.Combine(root, experiment, id);
        Directory.CreateDirectory(dir);
        var csv = Path.Combine(dir, "metrics.csv");
        File.WriteAllText(csv, "step,tag,value,wall_time\n");
        File.SetLastWriteTimeUtc(csv, written);
        return dir;
    }

    [Fact]
    public void RunFoldersComeFromTheEnvironmentOrAreTheNewest()
    {
        using var tmp = TestPaths.Temp();
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var a1 = MakeRun(tmp.Path, "demo", "a1", t0);
        var a2 = MakeRun(tmp.Path, "demo", "a2", t0.AddMinutes(5));
        var b1 = MakeRun(tmp.Path, "demo-no-r1", "b1", t0.AddMinutes(3));
        Directory.CreateDirectory(Path.Combine(tmp.Path, "demo", "not-a-run"));          // no metrics.csv

        var results = Env((NotebookRunner.ResultsVariable, tmp.Path));
        Assert.Equal([b1, a1, a2], RunFolders.All(tmp.Path));                               // ordinal path order
        Assert.Equal(a2, RunFolders.Current(results));
        Assert.Equal([a2, b1], RunFolders.Selected(results));                              // newest of each experiment, by name
        Assert.Equal("demo/a2", RunFolders.Name(a2));

        var given = Env((NotebookRunner.RunVariable, b1), (NotebookRunner.ResultsVariable, tmp.Path));
        Assert.Equal(b1, RunFolders.Current(given));
        Assert.Equal([b1], RunFolders.Selected(given));
        var many = Env((NotebookRunner.RunsVariable, a1 + Path.PathSeparator + b1));
        Assert.Equal(a1, RunFolders.Current(many));
        Assert.Equal([a1, b1], RunFolders.Selected(many));

        Assert.Contains("run folder not found: /no/such/run", Assert.Throws<DirectoryNotFoundException>(() =>
            RunFolders.Current(Env((NotebookRunner.RunVariable, "/no/such/run")))).Message);
        var empty = Path.Combine(tmp.Path, "empty");
        Assert.Contains($"no run under {empty}", Assert.Throws<DirectoryNotFoundException>(() =>
            RunFolders.Current(Env((NotebookRunner.ResultsVariable, empty)))).Message);
    }

    [Fact]
    public void CsvTableReadsQuotedFieldsAndNumbers()
    {
        var t = CsvTable.Parse("method,note,fd\n\"one, step\",\"says \"\"hi\"\"\",4.5\nteacher,\"two\nlines\",nan\n\n", "c.csv");
        Assert.Equal(["method", "note", "fd"], t.Columns);
        Assert.Equal(["one, step", "teacher"], t.Column("method"));
        Assert.Equal(["says \"hi\"", "two\nlines"], t.Column("note"));
        var fd = t.Numbers("fd");
        Assert.Equal(4.5, fd[0]);
        Assert.True(double.IsNaN(fd[1]));
        Assert.Contains("c.csv: no column 'sharpness' (has: method, note, fd)", Assert.Throws<KeyNotFoundException>(() => t.Column("sharpness")).Message);
        Assert.Contains("c.csv: row 1, column 'method': 'one, step' is not a number", Assert.Throws<InvalidDataException>(() => t.Numbers("method")).Message);
        Assert.Contains("c.csv: line 3 has 2 fields, the header has 3", Assert.Throws<InvalidDataException>(() => CsvTable.Parse("a,b,c\n1,2,3\n4,5\n", "c.csv")).Message);
    }

    [Fact]
    public void TablesAlignNumbersRightAndTextLeft()
    {
        var text = AptLab.Notebooks.Show.FormatTable(["tag", "last", "step"],
            [["apt_image/loss_d", 0.6931471805599453, 200L], ["r1", 1e-7, 5L], ["nan", double.NaN, 0]]);
        Assert.Equal(string.Join("\n",
            "tag                   last  step",
            "----------------  --------  ----",
            "apt_image/loss_d  0.693147   200",
            "r1                   1E-07     5",
            "nan                    nan     0", ""), text);
        Assert.Throws<ArgumentException>(() => AptLab.Notebooks.Show.FormatTable(["a", "b"], [["only one"]]));
    }

    [Fact]
    public void BarChartHasOneBarPerLabelAtItsTick()
    {
        XNamespace svg = "http://www.w3.org/2000/svg";
        var doc = XDocument.Parse(Charts.Bars("FD", "Fréchet distance", ["teacher", "cd", "apt"], [3.0, 9.0, 4.5]).ToSvg());
        var ticks = doc.Descendants(svg + "text").Where(t => (string?)t.Attribute("class") == "xtick").ToList();
        Assert.Equal(["teacher", "cd", "apt"], ticks.Select(t => t.Value));
        var bars = doc.Descendants(svg + "g").Single(g => (string?)g.Attribute("class") == "series").Elements(svg + "rect")
                      .Select(r => (X: D(r, "x"), W: D(r, "width"), H: D(r, "height"))).Where(b => b.H > 0).ToList();
        Assert.Equal(3, bars.Count);
        for (int i = 0; i < 3; i++) Assert.Equal(D(ticks[i], "x"), bars[i].X + bars[i].W / 2, 0.5);    // centred on the tick (px)
        Assert.Equal(9.0 / 3.0, bars[1].H / bars[0].H, 2);                                             // heights in proportion
        Assert.Equal(4.5 / 3.0, bars[2].H / bars[0].H, 2);
    }

    private static double D(XElement e, string attr) => double.Parse((string)e.Attribute(attr)!, System.Globalization.CultureInfo.InvariantCulture);
}
