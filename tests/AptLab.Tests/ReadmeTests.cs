using System.Text.RegularExpressions;

namespace AptLab.Tests;

/// <summary>The README cannot drift from the tree: its layout block lists existing paths and every folder of
/// src/AptLab in layer order, its concept table names existing files, and every docs/ section the code cites exists.</summary>
public class ReadmeTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(TestPaths.Repo, "README.md"));

    private static string Section(string heading)
    {
        int i = Readme.IndexOf("\n## " + heading + "\n", StringComparison.Ordinal);
        Assert.True(i >= 0, $"README.md has no '## {heading}' section");
        int j = Readme.IndexOf("\n## ", i + 4, StringComparison.Ordinal);
        return Readme[i..(j < 0 ? Readme.Length : j)];
    }

    /// <summary>The first token of every line of the layout block (continuation lines start with spaces).</summary>
    private static List<string> LayoutEntries()
    {
        var block = Regex.Match(Section("Layout"), "```\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        return block.Split('\n').Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0])).Select(l => l.Split(' ')[0]).ToList();
    }

    [Fact]
    public void Layout_block_lists_existing_paths_and_every_framework_folder_in_layer_order()
    {
        var entries = LayoutEntries();
        Assert.Contains("src/AptLab.Torch/", entries);
        foreach (var e in entries.Where(e => !e.StartsWith("results/")))              // results/ is git-ignored
            Assert.True(e.EndsWith('/') ? Directory.Exists(Path.Combine(TestPaths.Repo, e)) : File.Exists(Path.Combine(TestPaths.Repo, e)),
                $"README layout lists {e}, which does not exist");
        var listed = entries.Where(e => e.StartsWith("src/AptLab/")).Select(e => e["src/AptLab/".Length..].TrimEnd('/')).ToList();
        var folders = Directory.GetDirectories(Path.Combine(TestPaths.Repo, "src", "AptLab")).Select(Path.GetFileName)
            .Where(f => f is not ("bin" or "obj")).ToList();
        foreach (var f in folders) Assert.True(listed.Contains(f!), $"src/AptLab/{f}/ is missing from the README's layout block");
        Assert.Equal(LayeringTests.Order.Where(listed.Contains), listed);            // the block reads bottom-up like the layers
    }

    [Fact]
    public void Concept_table_names_existing_files()
    {
        var table = Section("Where each concept lives");
        var paths = Regex.Matches(table, "`([^`]+/[^`]+)`").Select(m => m.Groups[1].Value).ToList();
        Assert.True(paths.Count >= 11, "the concept table should name the file of each concept");
        foreach (var p in paths) Assert.True(File.Exists(Path.Combine(TestPaths.Repo, p)), $"README concept table names {p}, which does not exist");
        foreach (var concept in new[] { "DiT block", "VAE", "umT5", "flow-matching schedule", "UniPC", "consistency distillation",
                                        "discriminator heads", "approximated R1", "audio injection", "LoRA", "TeaCache" })
            Assert.Contains("| " + concept, table);
    }

    /// <summary>GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static string Anchor(string heading) => Regex.Replace(heading.Trim().ToLowerInvariant(), @"[^\w\- ]", "").Replace(' ', '-');

    [Fact]
    public void Every_docs_section_the_repository_cites_exists()
    {
        var docs = Path.Combine(TestPaths.Repo, "docs");
        var anchors = Directory.GetFiles(docs, "*.md").ToDictionary(Path.GetFileName, f =>
            File.ReadLines(f).Where(l => l.StartsWith('#')).Select(l => Anchor(l.TrimStart('#'))).ToHashSet());
        Assert.Contains("architecture.md", anchors.Keys);
        var cited = 0;
        var files = new[] { "src", "experiments", "configs", "docs" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(TestPaths.Repo, d), "*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".cs") || f.EndsWith(".md") || f.EndsWith(".yaml"))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Append(Path.Combine(TestPaths.Repo, "README.md"));
        foreach (var f in files)
            foreach (Match m in Regex.Matches(File.ReadAllText(f), @"docs/([\w-]+\.md)(?:#([\w-]+))?"))
            {
                cited++;
                var page = m.Groups[1].Value;
                Assert.True(anchors.ContainsKey(page), $"{Path.GetRelativePath(TestPaths.Repo, f)} cites docs/{page}, which does not exist");
                if (m.Groups[2].Success)
                    Assert.True(anchors[page].Contains(m.Groups[2].Value), $"{Path.GetRelativePath(TestPaths.Repo, f)} cites docs/{page}#{m.Groups[2].Value}, a section that does not exist");
            }
        Assert.True(cited > 100, $"only {cited} citations of docs/ found");
    }
}
