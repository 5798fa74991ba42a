using System.Text.RegularExpressions;

namespace AptLab.Tests;

/// <summary>
/// The dependency direction between the folders of src/AptLab (docs/architecture.md): every folder uses only folders of
/// lower layers (the references are the <c>AptLab.X</c> namespaces named in using directives and qualified names),
/// and the subfolders of one folder form no cycle. A back edge (say Data using Apt) fails here, naming file and line.
/// </summary>
public class LayeringTests
{
    /// <summary>The layers of src/AptLab, lowest first: a folder may use only the folders before it.</summary>
    public static readonly string[] Order =
        ["Config", "Data", "Logging", "Diffusion", "Training", "Apt", "Evaluation", "Wan", "Avatar", "Human", "Notebooks", "Examples"];

    private static string Framework => Path.Combine(TestPaths.Repo, "src", "AptLab");

    /// <summary>One reference: a file of folder <c>From</c> names namespace <c>To</c> (both as "Folder" or "Folder.Sub").</summary>
    public sealed record Reference(string From, string To, string File, int Line);

    private static readonly Regex Comments = new(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline);
    private static readonly Regex Strings = new(@"@?\$?""(?:[^""\\\n]|\\.)*""", RegexOptions.Singleline);
    private static readonly Regex Name = new(@"\bAptLab\.(\w+)(?:\.(\w+))?");
    private static readonly Regex NamespaceLine = new(@"^\s*namespace\s", RegexOptions.Multiline);

    /// <summary>Every reference between folders (and subfolders) of the framework tree at <paramref name="root"/>.</summary>
    public static List<Reference> References(string root)
    {
        var folders = Directory.GetDirectories(root).Select(Path.GetFileName).Where(IsSource).ToHashSet()!;
        var refs = new List<Reference>();
        foreach (var top in folders)
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, top!), "*.cs", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar);
                if (rel.Any(p => p is "bin" or "obj")) continue;
                string from = rel.Length > 2 ? $"{rel[0]}.{rel[1]}" : rel[0];
                var text = File.ReadAllText(file);
                var code = Strings.Replace(Comments.Replace(text, m => new string('\n', m.Value.Count(c => c == '\n'))), "\"\"");
                var lines = code.Split('\n');
                for (int i = 0; i < lines.Length; i++)
                {
                    if (NamespaceLine.IsMatch(lines[i])) continue;
                    foreach (Match m in Name.Matches(lines[i]))
                    {
                        var to = m.Groups[1].Value;
                        if (!folders.Contains(to)) continue;                       // AptLab.Torch, AptLab.Experiments: other projects
                        var sub = m.Groups[2].Success && Directory.Exists(Path.Combine(root, to, m.Groups[2].Value)) ? $"{to}.{m.Groups[2].Value}" : to;
                        if (sub != from) refs.Add(new Reference(from, sub, Path.GetRelativePath(TestPaths.Repo, file), i + 1));
                    }
                }
            }
        return refs;
    }

    private static bool IsSource(string? name) => name is not null and not ("bin" or "obj");

    private static string Top(string node) => node.Split('.')[0];

    /// <summary>The references that go up (or sideways) in <paramref name="order"/>, and the folders it does not place.</summary>
    public static (List<Reference> backEdges, List<string> unplaced) Check(string root, IReadOnlyList<string> order)
    {
        var refs = References(root);
        var back = refs.Where(r => Top(r.From) != Top(r.To) &&
            (order.ToList().IndexOf(Top(r.To)) is var to && order.ToList().IndexOf(Top(r.From)) is var from && (to < 0 || from < 0 || to >= from))).ToList();
        var unplaced = Directory.GetDirectories(root).Select(Path.GetFileName).Where(IsSource).Where(f => !order.Contains(f!)).ToList();
        return (back, unplaced!);
    }

    /// <summary>Cycles among the subfolders of each folder (a subfolder implicitly sees its parent folder's namespace).</summary>
    public static List<string> SubfolderCycles(string root)
    {
        var edges = new Dictionary<string, HashSet<string>>();
        void Add(string a, string b) { if (!edges.TryGetValue(a, out var s)) edges[a] = s = []; s.Add(b); }
        foreach (var r in References(root).Where(r => Top(r.From) == Top(r.To))) Add(r.From, r.To);
        foreach (var node in edges.Keys.Concat(edges.Values.SelectMany(v => v)).Distinct().Where(n => n.Contains('.')).ToList())
            Add(node, Top(node));
        var cycles = new List<string>();
        var state = new Dictionary<string, int>();                                // 1 = on the stack, 2 = done
        var stack = new List<string>();
        void Visit(string n)
        {
            state[n] = 1; stack.Add(n);
            foreach (var m in edges.GetValueOrDefault(n) ?? [])
                if (state.GetValueOrDefault(m) == 1) cycles.Add(string.Join(" -> ", stack.Skip(stack.IndexOf(m)).Append(m)));
                else if (state.GetValueOrDefault(m) == 0) Visit(m);
            stack.RemoveAt(stack.Count - 1); state[n] = 2;
        }
        foreach (var n in edges.Keys.ToList()) if (state.GetValueOrDefault(n) == 0) Visit(n);
        return cycles;
    }

    private static string Describe(IEnumerable<Reference> refs) =>
        string.Join("\n", refs.Select(r => $"  {r.File}:{r.Line}: {r.From} uses AptLab.{r.To}"));

    [Fact]
    public void Every_folder_uses_only_lower_layers()
    {
        var (back, unplaced) = Check(Framework, Order);
        Assert.True(unplaced.Count == 0, $"src/AptLab folders without a layer in LayeringTests.Order: {string.Join(", ", unplaced)}");
        Assert.True(back.Count == 0, $"references against the layer order {string.Join(" < ", Order)}:\n{Describe(back)}");
        Assert.Contains(References(Framework), r => r is { From: "Avatar", To: "Wan" });   // the scan sees real references
    }

    [Fact]
    public void Subfolders_have_no_cycles()
    {
        var cycles = SubfolderCycles(Framework);
        Assert.True(cycles.Count == 0, "subfolder cycles:\n  " + string.Join("\n  ", cycles));
    }

    [Fact]
    public void A_back_edge_or_a_subfolder_cycle_is_reported_with_its_file_and_line()
    {
        using var tmp = TestPaths.Temp();
        void Write(string rel, string text)
        {
            var f = Path.Combine(tmp.Path, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            File.WriteAllText(f, text);
        }
        Write("Data/Cache.cs", "using AptLab.Torch;\n// AptLab.Apt in a comment is no reference\nnamespace AptLab.Data;\nclass Cache { string s = \"AptLab.Apt\"; }\n");
        Write("Apt/Trainer.cs", "using AptLab.Data;\nnamespace AptLab.Apt;\nclass Trainer { }\n");
        Write("Wan/Vae/Vae.cs", "namespace AptLab.Wan.Vae;\nclass Vae { }\n");
        Write("Wan/Model.cs", "using AptLab.Apt;\nnamespace AptLab.Wan;\nclass Model { }\n");
        string[] order = ["Data", "Apt", "Wan"];
        Assert.Empty(Check(tmp.Path, order).backEdges);
        Assert.Empty(SubfolderCycles(tmp.Path));

        Write("Data/Cache.cs", "using AptLab.Torch;\nnamespace AptLab.Data;\nclass Cache { AptLab.Apt.Trainer? t; }\n");   // a back edge
        var back = Assert.Single(Check(tmp.Path, order).backEdges);
        Assert.Equal(("Data", "Apt", 3), (back.From, back.To, back.Line));
        Assert.EndsWith(Path.Combine("Data", "Cache.cs"), back.File);

        Write("Wan/Model.cs", "using AptLab.Wan.Vae;\nnamespace AptLab.Wan;\nclass Model { }\n");               // root -> sub -> root
        Assert.Contains("Wan -> Wan.Vae -> Wan", Assert.Single(SubfolderCycles(tmp.Path)));
        Assert.Equal(["Wan"], Check(tmp.Path, ["Data", "Apt"]).unplaced);                              // a folder without a layer
    }
}
