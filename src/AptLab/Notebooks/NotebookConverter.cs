using System.Text;
using System.Text.RegularExpressions;

namespace AptLab.Notebooks;

/// <summary>A notebook turned into a .NET 10 file-based app: the app's source and what it references.</summary>
public sealed record ConvertedNotebook(string Source, IReadOnlyList<string> Projects, IReadOnlyList<string> Packages,
                                       IReadOnlyList<int> ConvertedCells, IReadOnlyList<int> SkippedCells);

/// <summary>
/// Turns the C# cells of a .NET Interactive notebook into one file-based app (notebooks/README.md):
/// <list type="bullet">
/// <item><c>#r "nuget: X, V"</c> becomes <c>#:package X@V</c>, unless X is a project of this repository
///   (<c>src/X/X.csproj</c>), which becomes <c>#:project</c>; <c>#r "path/X.dll"</c> of a repository project's
///   build becomes its <c>#:project</c>; <c>#i "nuget: feed"</c> is dropped when every package is a project, else it
///   becomes <c>RestoreAdditionalProjectSources</c>; <c>#!csharp</c> and <c>#!time</c> lines are dropped;</item>
/// <item>using directives are hoisted (C# wants them first, CS1529); <c>src/AptLab/AptLab.csproj</c> is always
///   referenced and <c>PublishAot=false</c> is set (restore would ask for the NativeAOT pack otherwise);</item>
/// <item>markdown cells and cells of other kernels are skipped;</item>
/// <item>a cell that declares a type, uses another magic, or ends in a bare expression (which the kernel would
///   display) is rejected with a <see cref="NotebookException"/> naming the notebook and the cell.</item>
/// </list>
/// <c>#line</c> directives map every line back to its line in the .ipynb file, so compiler errors and stack
/// traces point into the notebook.
/// </summary>
public static partial class NotebookConverter
{
    /// <summary>The project every notebook app references, relative to the repository root.</summary>
    public const string FrameworkProject = "src/AptLab/AptLab.csproj";

    public static ConvertedNotebook Convert(NotebookDocument notebook, string repoRoot)
    {
        repoRoot = Path.GetFullPath(repoRoot);
        var projects = new List<string> { Path.Combine(repoRoot, FrameworkProject) };
        var packages = new List<string>();
        var feeds = new List<string>();
        var usings = new List<(string Line, int FileLine)>();
        var body = new List<(string Line, int FileLine)>();
        var converted = new List<int>();
        var skipped = new List<int>();
        string nbDir = Path.GetDirectoryName(notebook.Path) ?? ".";

        foreach (var cell in notebook.Cells)
        {
            if (cell.CellType != "code") continue;
            if (!cell.IsCSharp) { skipped.Add(cell.Number); continue; }
            converted.Add(cell.Number);
            var code = CSharpLines.CodeOnly(cell.Lines);
            var kept = new List<(string Line, int FileLine)>();
            string? lastCode = null;
            for (int i = 0; i < cell.Lines.Count; i++)
            {
                string raw = cell.Lines[i], c = code[i].Trim();
                int fileLine = cell.FileLines.Count > i ? cell.FileLines[i] : 0;
                Exception Fail(string problem) => new NotebookException(notebook.Path, cell.Number, $"line {i + 1}: {problem}");
                if (c.StartsWith("#r", StringComparison.Ordinal) || c.StartsWith("#i", StringComparison.Ordinal)
                    || c.StartsWith("#!", StringComparison.Ordinal) || c.StartsWith("#:", StringComparison.Ordinal))
                {
                    Magic(raw.Trim(), repoRoot, nbDir, projects, packages, feeds, Fail);
                    continue;
                }
                if (CSharpLines.IsUsingDirective(c))
                {
                    if (lastCode is not null) throw Fail($"'{c}' comes after code; put using directives at the top of the cell");
                    if (!usings.Any(u => u.Line.Trim() == raw.Trim())) usings.Add((raw.Trim(), fileLine));
                    continue;
                }
                if (CSharpLines.TypeDeclaration(c) is string decl)
                    throw Fail($"declares a type ('{decl}'); notebooks hold no type declarations (top-level statements must " +
                               "precede types in a file-based app, CS8803): put the type in src/AptLab/Notebooks or use a tuple or a local function");
                if (c.Length > 0 && !c.StartsWith('#')) lastCode = c;
                kept.Add((raw, fileLine));
            }
            if (lastCode is not null && !lastCode.EndsWith(';') && !lastCode.EndsWith('}'))
                throw new NotebookException(notebook.Path, cell.Number,
                    $"ends in a bare expression ('{Shorten(lastCode)}'), which only the .NET Interactive kernel can display: " +
                    "end it with ';' and print through Console.WriteLine or AptLab.Notebooks.Show");
            body.AddRange(kept);
        }

        bool needFeeds = packages.Count > 0 && feeds.Count > 0;
        var sb = new StringBuilder();
        sb.Append("// Generated from ").Append(notebook.Path).Append(" by AptLab.Notebooks.NotebookConverter: edit the notebook, not this file.\n");
        foreach (var p in projects) sb.Append("#:project ").Append(p).Append('\n');
        sb.Append("#:property PublishAot=false\n");
        foreach (var p in packages) sb.Append("#:package ").Append(p).Append('\n');
        if (needFeeds) sb.Append("#:property RestoreAdditionalProjectSources=").Append(string.Join(';', feeds)).Append('\n');
        sb.Append('\n');
        var lines = new LineMapper(sb, notebook.Path);
        foreach (var (line, fileLine) in usings) lines.Add(line, fileLine);
        foreach (var (line, fileLine) in body) lines.Add(line, fileLine);
        return new ConvertedNotebook(sb.ToString(), projects, packages, converted, skipped);
    }

    // Applies one magic line to the reference lists (or rejects it).
    private static void Magic(string line, string repoRoot, string nbDir, List<string> projects, List<string> packages,
                              List<string> feeds, Func<string, Exception> fail)
    {
        if (KernelLine().Match(line) is { Success: true } k)
        {
            if (k.Groups[1].Value.ToLowerInvariant() is "csharp" or "c#" or "time") return;
            throw fail($"the magic '{line}' has no file-based equivalent (only #r, #i, #!csharp and #!time are supported)");
        }
        if (NugetReference().Match(line) is { Success: true } nuget)
        {
            string name = nuget.Groups["name"].Value, version = nuget.Groups["version"].Success ? nuget.Groups["version"].Value : "*";
            if (RepoProject(repoRoot, name) is string proj) AddOnce(projects, proj);
            else AddOnce(packages, $"{name}@{version}");
            return;
        }
        if (NugetSource().Match(line) is { Success: true } source)
        {
            string src = source.Groups["source"].Value;
            AddOnce(feeds, Uri.TryCreate(src, UriKind.Absolute, out var u) && !u.IsFile ? src : Path.GetFullPath(Path.Combine(nbDir, src)));
            return;
        }
        if (DllReference().Match(line) is { Success: true } dll)
        {
            string name = Path.GetFileNameWithoutExtension(dll.Groups["path"].Value);
            if (RepoProject(repoRoot, name) is string proj) { AddOnce(projects, proj); return; }
            throw fail($"'{line}' references {name}.dll, which is not a project of this repository (no src/{name}/{name}.csproj); " +
                       "a file-based app can reference projects and packages, not bare assemblies");
        }
        throw fail($"cannot convert the magic '{line}' (expected #r \"nuget: Name, Version\", #r \"path/Assembly.dll\", #i \"nuget: feed\" or #!csharp)");
    }

    private static string? RepoProject(string repoRoot, string name)
    {
        if (name.Length == 0 || name.IndexOfAny(['/', '\\']) >= 0) return null;
        var p = Path.Combine(repoRoot, "src", name, name + ".csproj");
        return File.Exists(p) ? p : null;
    }

    private static void AddOnce(List<string> list, string item)
    {
        if (!list.Contains(item)) list.Add(item);
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    /// <summary>Writes lines with a <c>#line</c> directive wherever they do not follow their predecessor in the .ipynb.</summary>
    private sealed class LineMapper(StringBuilder sb, string path)
    {
        private int next = -1;
        private readonly bool enabled = !path.Contains('"');

        public void Add(string line, int fileLine)
        {
            if (enabled && fileLine > 0 && fileLine != next) sb.Append("#line ").Append(fileLine).Append(" \"").Append(path).Append("\"\n");
            sb.Append(line).Append('\n');
            next = fileLine > 0 ? fileLine + 1 : -1;
        }
    }

    [GeneratedRegex(@"^#!\s*(\S+)")]
    private static partial Regex KernelLine();

    [GeneratedRegex(@"^#r\s+""\s*nuget\s*:\s*(?<name>[^,""\s]+)\s*(,\s*(?<version>[^""\s]+))?\s*""\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex NugetReference();

    [GeneratedRegex(@"^#i\s+""\s*nuget\s*:\s*(?<source>[^""]+?)\s*""\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex NugetSource();

    [GeneratedRegex(@"^#r\s+""(?<path>[^""]+\.dll)""\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex DllReference();
}
