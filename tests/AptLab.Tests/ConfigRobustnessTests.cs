using AptLab.Config;

namespace AptLab.Tests;

/// <summary>
/// Config mistakes and hostile YAML give one <see cref="ConfigException"/> that names the file, line and key: a
/// "billion laughs" document fails fast in bounded memory, malformed YAML that YamlDotNet reports with a bare
/// InvalidOperationException is located, wrong types say what was expected, NaN and infinities are refused wherever a
/// config has a number, and a count of 0 that a section divides by is named.
/// </summary>
public class ConfigRobustnessTests : IDisposable
{
    private readonly TempDir dir = TestPaths.Temp();
    public void Dispose() => dir.Dispose();

    public sealed class Section : IValidatable
    {
        public int Dim { get; set; } = 64;
        public int NumHeads { get; set; } = 4;
        public double Lr { get; set; } = 1e-3;
        public List<double> Weights { get; set; } = [1.0];
        // like the experiment sections: a check that divides by a count
        public void Validate(string key, string? file)
        {
            if ((Dim / NumHeads) % 2 != 0) throw ConfigException.For(file, key + ".num_heads", "must give an even head dim");
        }
    }

    public sealed class Root
    {
        public string Name { get; set; } = "x";
        public ulong Seed { get; set; }
        public Section Model { get; set; } = new();
        public List<Section> Extra { get; set; } = [];
        public Dictionary<string, string> Tags { get; set; } = [];
    }

    private ConfigException Fails(string yaml, string name = "c.yaml")
    {
        var path = dir.File(name);
        File.WriteAllText(path, yaml);
        return Assert.Throws<ConfigException>(() => ConfigLoader.Load<Root>(path));
    }

    [Fact]
    public void Billion_laughs_fails_fast_in_bounded_memory()
    {
        var lol = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
        for (char c = 'b'; c <= 'i'; c++) lol += $"{c}: &{c} [{string.Join(",", Enumerable.Repeat($"*{(char)(c - 1)}", 9))}]\n";
        Assert.True(lol.Length < 400);                                                   // 9^9 = 387 million "lol"s
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Fails(lol, "lol.yaml");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.StartsWith(dir.File("lol.yaml") + ":", e.Message);
        Assert.Contains("aliases expand this config beyond", e.Message);
        Assert.True(allocated < 100 << 20, $"refusing the document allocated {allocated >> 20} MB");
    }

    [Fact]
    public void Aliases_within_the_budget_still_work()
    {
        var path = dir.File("ok.yaml");
        File.WriteAllText(path, "model: &m {dim: 32, num_heads: 2}\nextra: [*m, *m]\n");
        var r = ConfigLoader.Load<Root>(path);
        Assert.Equal([32, 32], r.Extra.Select(s => s.Dim));
    }

    [Fact]
    public void Deep_nesting_and_unclosed_brackets_are_located()
    {
        Assert.Contains("nest deeper than", Fails("tags: " + new string('[', 5000) + new string(']', 5000) + "\n").Message);
        // the first makes YamlDotNet's scanner throw a bare InvalidOperationException (a stack trace before), the second a YamlException
        foreach (var yaml in new[] { "name: x\nmodel: {dim: 4\nseed: 1\n", "name: x\nmodel: {dim: 4\n" })
        {
            var brace = Fails(yaml);
            Assert.StartsWith(dir.File("c.yaml") + ":", brace.Message);
            Assert.Contains("the '{' opened at line 2, column 8", brace.Message);
        }
    }

    [Theory]
    [InlineData("seed: -1\n", ":1:7: 'seed' must be a non-negative integer, got '-1'")]
    [InlineData("seed: 1.5\n", ":1:7: 'seed' must be a non-negative integer, got '1.5'")]
    [InlineData("model:\n  dim: big\n", ":2:8: 'model.dim' must be an integer (from -2147483648 to 2147483647), got 'big'")]
    [InlineData("model:\n  weights: 3\n", ":2:12: 'model.weights' must be a list, got '3'")]
    [InlineData("model: 5\n", ":1:8: 'model' must be a mapping of keys, got '5'")]
    [InlineData("extra:\n  - dim: 8\n  - lr: fast\n", ":3:9: 'extra[1].lr' must be a number, got 'fast'")]
    public void A_wrong_type_names_the_key_and_what_it_expects(string yaml, string expected) =>
        Assert.Equal(dir.File("c.yaml") + expected, Fails(yaml).Message);

    [Theory]
    [InlineData("name: x\nmodell: {}\n", "unknown key 'modell' at the top level (c.yaml:2); known keys: name, seed, model, extra, tags")]
    [InlineData("model:\n  dim: 8\n  heads: 2\n", "unknown key 'heads' in section 'model' (c.yaml:3); known keys: dim, num_heads, lr, weights")]
    [InlineData("extra:\n  - {dim: 8, lr_: 1}\n", "unknown key 'lr_' in section 'extra[0]' (c.yaml:2); known keys: dim, num_heads, lr, weights")]
    public void An_unknown_key_names_its_section_and_the_known_keys(string yaml, string expected) =>
        Assert.Equal(expected.Replace("c.yaml", dir.File("c.yaml")), Fails(yaml).Message);

    [Theory]
    [InlineData("model:\n  lr: .inf\n", ":2: 'model.lr': must be a finite number, got .inf")]
    [InlineData("model:\n  lr: .nan\n", ":2: 'model.lr': must be a finite number, got .nan")]
    [InlineData("model:\n  weights: [1, -.inf]\n", ":2: 'model.weights[1]': must be a finite number, got -.inf")]
    [InlineData("extra:\n  - {}\n  - lr: .NaN\n", ":3: 'extra[1].lr': must be a finite number, got .nan")]
    public void Nan_and_infinities_are_refused_with_the_key_and_line(string yaml, string expected) =>
        Assert.Equal(dir.File("c.yaml") + expected, Fails(yaml).Message);

    [Fact]
    public void A_zero_count_a_section_divides_by_is_named_with_its_line()
    {
        var e = Fails("name: x\nmodel:\n  dim: 8\n  num_heads: 0\n");
        Assert.Equal(dir.File("c.yaml") + ":4: 'model.num_heads': must be >= 1 (the section divides by it)", e.Message);
    }

    [Fact]
    public void A_validation_error_points_at_the_file_that_set_the_value()
    {
        File.WriteAllText(dir.File("base.yaml"), "name: b\nmodel:\n  dim: 6\n  num_heads: 2\n");
        var e = Fails("base: base.yaml\nname: child\n", "child.yaml");
        Assert.StartsWith(Path.Combine(dir.Path, "base.yaml") + ":4: 'model.num_heads'", e.Message);
    }
}

/// <summary>The settings two configs differ in, named by key: what a resume must not change silently.</summary>
public class ConfigDiffTests
{
    [Fact]
    public void Changed_added_and_removed_settings_are_listed_by_key()
    {
        var recorded = ConfigLoader.Parse<ConfigRobustnessTests.Root>("seed: 0\nmodel: {lr: 0.001}\nextra: [{dim: 8}]\n");
        var given = ConfigLoader.Parse<ConfigRobustnessTests.Root>("seed: 1\nmodel: {lr: 0.002}\nextra: [{dim: 8}, {dim: 16}]\ntags: {a: b}\n");
        var changes = ConfigDiff.Changes(recorded, given, ignore: ["extra"]);
        Assert.Equal(["model.lr: 0.001 -> 0.002", "seed: 0 -> 1", "tags.a: (unset) -> b"], changes.Select(c => c.ToString()));
        Assert.Empty(ConfigDiff.Changes(recorded, ConfigLoader.Parse<ConfigRobustnessTests.Root>("seed: 0\nmodel: {lr: 1.0e-3}\nextra: [{dim: 8}]\n")));
        Assert.Contains("extra[1].dim", ConfigDiff.Changes(recorded, given).Select(c => c.Key));
    }
}
