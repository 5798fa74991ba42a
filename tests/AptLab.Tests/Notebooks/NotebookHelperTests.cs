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
    public void DataFramesBecomeHtmlTablesWithEscapedTextAndRoundedNumbers()
    {
        var df = new Microsoft.Data.Analysis.DataFrame(
            new Microsoft.Data.Analysis.StringDataFrameColumn("method", ["APT <1 step>", "teacher & CFG"]),
            new Microsoft.Data.Analysis.DoubleDataFrameColumn("fd", [12.345678901, double.NaN]),
            new Microsoft.Data.Analysis.Int64DataFrameColumn("nfe", [1L, 50L]));
        var html = DataFrameHtml.Render(df);
        Assert.Contains("<thead><tr><th>method</th><th>fd</th><th>nfe</th></tr></thead>", html);
        Assert.Contains("<tr><td style=\"text-align:left\">APT &lt;1 step&gt;</td><td style=\"text-align:right\">12.3457</td><td style=\"text-align:right\">1</td></tr>", html);
        Assert.Contains("<td style=\"text-align:left\">teacher &amp; CFG</td><td style=\"text-align:right\">nan</td>", html);
        var cut = DataFrameHtml.Render(df, maxRows: 1);
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Matches(cut, "<tr><td").Count);
        Assert.Contains("1 more rows (2 in all)", cut);
    }
}
