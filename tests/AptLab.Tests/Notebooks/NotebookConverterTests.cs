using System.Text;
using AptLab.Notebooks;

namespace AptLab.Tests.Notebooks;

public class NotebookConverterTests
{
    private static readonly string Repo = TestPaths.Repo;
    private static string Project(string name) => Path.Combine(Repo, "src", name, name + ".csproj");

    private static (ConvertedNotebook App, string[] Lines) Convert(NotebookJson nb, string path = "/nowhere/probe.ipynb")
    {
        var app = NotebookConverter.Convert(NotebookDocument.Parse(Encoding.UTF8.GetBytes(nb.ToJson()), path), Repo);
        return (app, app.Source.Split('\n'));
    }

    private static NotebookException Rejected(NotebookJson nb, string path = "/nowhere/probe.ipynb") =>
        Assert.Throws<NotebookException>(() => NotebookConverter.Convert(NotebookDocument.Parse(Encoding.UTF8.GetBytes(nb.ToJson()), path), Repo));

    // The source lines that are C# (not directives, #line or the header comment).
    private static List<string> Code(string[] lines) =>
        lines.Where(l => l.Length > 0 && !l.StartsWith("#line") && !l.StartsWith("#:") && !l.StartsWith("// Generated")).ToList();

    [Fact]
    public void UsingsAreHoistedAboveAllCodeAndDeduplicated()
    {
        var (_, lines) = Convert(new NotebookJson()
            .Code("using System.Globalization;\nusing AptLab.Logging;\n\nvar a = 1.5.ToString(CultureInfo.InvariantCulture);")
            .Code("using static System.Math;\nusing AptLab.Logging;\nusing Ms = System.IO.MemoryStream;\nusing var stream = new Ms();\nConsole.WriteLine(a + Sqrt(4));"));
        var code = Code(lines);
        Assert.Equal(["using System.Globalization;", "using AptLab.Logging;", "using static System.Math;", "using Ms = System.IO.MemoryStream;"], code.Take(4));
        Assert.Single(code, l => l == "using AptLab.Logging;");
        Assert.Equal("var a = 1.5.ToString(CultureInfo.InvariantCulture);", code[4]);
        Assert.Contains("using var stream = new Ms();", code.Skip(4));                   // a using declaration is a statement: kept in place
        Assert.True(code.IndexOf("using var stream = new Ms();") < code.IndexOf("Console.WriteLine(a + Sqrt(4));"));
    }

    [Fact]
    public void MagicsBecomeFileBasedAppDirectives()
    {
        var (app, lines) = Convert(new NotebookJson()
            .Code("#r \"../src/AptLab.Cli/bin/Release/net10.0/AptLab.dll\"\n#r \"../src/AptLab.Cli/bin/Release/net10.0/AptLab.Torch.dll\"")
            .Code("#i \"nuget: ../artifacts/nuget\"\n#r \"nuget: AptLab, 0.1.0\"\n#r \"nuget: YamlDotNet, 16.3.0\"\n#r \"nuget:CsvHelper\"\nConsole.WriteLine(1);"));
        Assert.Equal([Project("AptLab"), Project("AptLab.Torch")], app.Projects);
        Assert.Equal(["YamlDotNet@16.3.0", "CsvHelper@*"], app.Packages);
        var directives = lines.Where(l => l.StartsWith("#:")).ToList();
        Assert.Equal([
            "#:project " + Project("AptLab"), "#:project " + Project("AptLab.Torch"), "#:property PublishAot=false",
            "#:package YamlDotNet@16.3.0", "#:package CsvHelper@*",
            "#:property RestoreAdditionalProjectSources=" + Path.GetFullPath("/nowhere/../artifacts/nuget"),
        ], directives);
        Assert.DoesNotContain(lines, l => l.StartsWith("#r") || l.StartsWith("#i"));
        Assert.Equal(["Console.WriteLine(1);"], Code(lines));
        // Directives precede all code, as file-based apps require.
        Assert.True(Array.FindLastIndex(lines, l => l.StartsWith("#:")) < Array.IndexOf(lines, "Console.WriteLine(1);"));
    }

    [Fact]
    public void LocalFeedIsDroppedWhenEveryPackageIsARepositoryProject()
    {
        var (app, lines) = Convert(new NotebookJson().Code("#i \"nuget: /abs/feed\"\n#r \"nuget: AptLab, 0.1.0\"\nConsole.WriteLine(2);"));
        Assert.Equal([Project("AptLab")], app.Projects);
        Assert.Empty(app.Packages);
        Assert.DoesNotContain(lines, l => l.Contains("RestoreAdditionalProjectSources"));
    }

    [Fact]
    public void MarkdownAndOtherKernelsAreSkippedAndCSharpKernelLinesDropped()
    {
        var (app, lines) = Convert(new NotebookJson()
            .Markdown("# Title\nConsole.WriteLine(\"from markdown\");")
            .Code("#!csharp\nConsole.WriteLine(\"cell 2\");")
            .Code("printfn \"from fsharp\"", kernel: "fsharp")
            .Code("#!fsharp\nprintfn \"overridden\"")
            .Code("Console.WriteLine(\"default kernel\");", kernel: null)
            .Code("#!time\nConsole.WriteLine(\"timed\");"));
        Assert.Equal([2, 5, 6], app.ConvertedCells);
        Assert.Equal([3, 4], app.SkippedCells);
        Assert.Equal(["Console.WriteLine(\"cell 2\");", "Console.WriteLine(\"default kernel\");", "Console.WriteLine(\"timed\");"], Code(lines));
        Assert.DoesNotContain(lines, l => l.Contains("#!") || l.Contains("markdown") || l.Contains("printfn"));
    }

    [Theory]
    [InlineData("record Point(double X, double Y);", "record Point")]
    [InlineData("public sealed class Meter\n{\n}", "class Meter")]
    [InlineData("enum Phase { Teacher, Distill }", "enum Phase")]
    [InlineData("readonly record struct Pair(int A, int B);", "record struct Pair")]
    [InlineData("internal static partial class Helpers { }", "class Helpers")]
    [InlineData("interface IScore { double Value { get; } }", "interface IScore")]
    [InlineData("delegate double Metric(double[] x);", "delegate double Metric")]
    public void ATypeDeclarationIsRejectedNamingNotebookAndCell(string declaration, string named)
    {
        var e = Rejected(new NotebookJson()
            .Markdown("# notes")
            .Code("Console.WriteLine(1);")
            .Code("var x = 2;\n" + declaration), "/work/notebooks/bad.ipynb");
        Assert.Equal("/work/notebooks/bad.ipynb", e.NotebookPath);
        Assert.Equal(3, e.Cell);
        Assert.StartsWith("/work/notebooks/bad.ipynb, cell 3: line 2: declares a type", e.Message);
        Assert.Contains($"'{named}'", e.Message);
    }

    [Fact]
    public void TypeKeywordsInStringsCommentsAndExpressionsAreNotDeclarations()
    {
        var (app, _) = Convert(new NotebookJson().Code(string.Join("\n",
            "var s = \"class Foo { }\"; // record Bar(int X);",
            "/* enum E { A }",
            "class Hidden { } */",
            "var v = @\"",
            "struct Inside { }\";",
            "var raw = \"\"\"",
            "interface INot { }",
            "\"\"\";",
            "Func<int> f = delegate { return 1; };",
            "var record = 3;",
            "Console.WriteLine(s + v + raw + f() + record);")));
        Assert.Equal([1], app.ConvertedCells);
    }

    [Fact]
    public void ABareTrailingExpressionIsRejected()
    {
        var e = Rejected(new NotebookJson().Code("var m = 3;").Code("var n = m * 2;\nn // the kernel would display this"));
        Assert.Equal(2, e.Cell);
        Assert.Contains("bare expression ('n')", e.Message);
        // A cell ending in a block, or in a statement followed by a comment, is fine.
        Convert(new NotebookJson().Code("if (true)\n{\n    Console.WriteLine(1);\n}").Code("Console.WriteLine(2); // done\n/* end */"));
    }

    [Theory]
    [InlineData("#!about", "has no file-based equivalent")]
    [InlineData("#r \"/opt/other/Other.dll\"", "Other.dll, which is not a project of this repository")]
    [InlineData("#:package Foo@1.0", "cannot convert the magic")]
    [InlineData("Console.WriteLine(1);\nusing System.Text;", "put using directives at the top")]
    public void OtherMagicsAndLateUsingsAreRejected(string cell, string problem)
    {
        var e = Rejected(new NotebookJson().Code("Console.WriteLine(0);").Code(cell));
        Assert.Equal(2, e.Cell);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void LineDirectivesPointAtTheNotebookLines()
    {
        using var tmp = TestPaths.Temp();
        var path = new NotebookJson()
            .Markdown("# explore")
            .Code("using AptLab.Logging;\n\nvar first = 1;\nvar second = first + 1;")
            .Code("#!csharp\nConsole.WriteLine(second);")
            .Save(tmp.File("map.ipynb"));
        var app = NotebookConverter.Convert(NotebookDocument.Load(path), Repo);
        var ipynb = File.ReadAllLines(path);
        var lines = app.Source.TrimEnd('\n').Split('\n');
        int checkedLines = 0;
        string? file = null;
        int next = 0;
        foreach (var line in lines)
        {
            if (line.StartsWith("#line "))
            {
                var parts = line.Split(' ', 3);
                next = int.Parse(parts[1]);
                file = parts[2].Trim('"');
                continue;
            }
            if (file is null) continue;
            Assert.Equal(path, file);
            // The .ipynb line holds the same text as a JSON string (quotes escaped).
            Assert.Contains(System.Text.Json.JsonSerializer.Serialize(line + "\n")[..^3], ipynb[next - 1]);
            next++;
            checkedLines++;
        }
        Assert.Equal(5, checkedLines);                      // using, blank, two statements, the WriteLine
    }

    [Fact]
    public void MalformedNotebooksNameTheFile()
    {
        Assert.Contains("/x/a.ipynb: not valid JSON", Assert.Throws<NotebookException>(() => NotebookDocument.Parse("{\"cells\": ["u8.ToArray(), "/x/a.ipynb")).Message);
        Assert.Contains("/x/b.ipynb: 'nbformat' must be 4", Assert.Throws<NotebookException>(() =>
            NotebookDocument.Parse(Encoding.UTF8.GetBytes(new NotebookJson().ToJson(nbformat: 3)), "/x/b.ipynb")).Message);
        Assert.Contains("/x/c.ipynb, cell 1: 'source' is neither", Assert.Throws<NotebookException>(() =>
            NotebookDocument.Parse("{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":5}]}"u8.ToArray(), "/x/c.ipynb")).Message);
        Assert.Contains("notebook not found", Assert.Throws<FileNotFoundException>(() => NotebookDocument.Load("/x/missing.ipynb")).Message);
    }

    [Fact]
    public void SourceAsOneStringSplitsIntoLines()
    {
        var nb = NotebookDocument.Parse("{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"metadata\":{},\"source\":\"var a = 1;\\r\\nConsole.WriteLine(a);\\n\"}]}"u8.ToArray(), "/x/s.ipynb");
        Assert.Equal(["var a = 1;", "Console.WriteLine(a);"], nb.Cells[0].Lines);
        Assert.Equal([1, 1], nb.Cells[0].FileLines);
        Assert.Equal("csharp", nb.Cells[0].Kernel);
    }

    [Fact]
    public void TheRepositoryNotebooksConvert()
    {
        var notebooks = Directory.GetFiles(Path.Combine(Repo, "notebooks"), "*.ipynb");
        Assert.True(notebooks.Length >= 3, $"{notebooks.Length} notebooks");
        foreach (var path in notebooks)
        {
            var app = NotebookConverter.Convert(NotebookDocument.Load(path), Repo);
            Assert.Equal([Project("AptLab")], app.Projects);                          // the setup cell's #r became the project
            Assert.Empty(app.Packages);
            Assert.Empty(app.SkippedCells);
        }
    }
}
