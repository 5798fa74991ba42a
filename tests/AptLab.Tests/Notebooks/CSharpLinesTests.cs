using AptLab.Notebooks;

namespace AptLab.Tests.Notebooks;

public class CSharpLinesTests
{
    [Fact]
    public void CommentsAndLiteralsAreBlankedAcrossLines()
    {
        var code = CSharpLines.CodeOnly([
            "var a = \"x // y\"; // comment",
            "var b = 'c'; /* open",
            "still comment */ var c = @\"verbatim \"\" still",
            "end\"; var d = $\"{a}\\\"q\";",
            "var e = \"\"\"",
            "  raw \" text",
            "  \"\"\"; var f = 1;",
        ]);
        Assert.Equal([
            "var a = \"\"; ",
            "var b = ''; ",
            "  var c = @\"",
            "\"; var d = $\"\";",
            "var e = \"",
            "",
            "\"; var f = 1;",
        ], code);
    }

    [Theory]
    [InlineData("using System;", true)]
    [InlineData("  using System.Collections.Generic;", true)]
    [InlineData("using static System.Math;", true)]
    [InlineData("global using AptLab.Logging;", true)]
    [InlineData("using Points = System.Collections.Generic.List<double>;", true)]
    [InlineData("using var f = File.OpenRead(p);", false)]
    [InlineData("using (var f = File.OpenRead(p)) { }", false)]
    [InlineData("using Stream s = File.OpenRead(p);", false)]
    public void UsingDirectivesAreToldFromUsingStatements(string line, bool directive) =>
        Assert.Equal(directive, CSharpLines.IsUsingDirective(line));
}
