using AptLab.Config;
using static AptLab.Tests.ConfigTests;

namespace AptLab.Tests;

public class ConfigInheritanceTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("aptlab-config-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    private string Write(string name, string yaml)
    {
        var p = Path.Combine(dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, yaml);
        return p;
    }

    [Fact]
    public void A_config_overrides_only_what_differs_from_its_base()
    {
        Write("base.yaml", "name: base\nlearning_rate: 0.5\nmodel: {dim: 96, num_heads: 4}\nblocks: [1, 2, 3]\n");
        Write("sub/mid.yaml", "base: ../base.yaml\nmodel:\n  num_heads: 8\n");
        var leaf = Write("sub/leaf.yaml", "base: mid.yaml\nname: leaf\nblocks: [7]\n");
        var e = ConfigLoader.Load<Experiment>(leaf);
        Assert.Equal("leaf", e.Name);
        Assert.Equal(0.5, e.LearningRate);                 // from the base
        Assert.Equal(96, e.Model.Dim);                     // mappings merge key by key
        Assert.Equal(8, e.Model.NumHeads);
        Assert.Equal(new[] { 7 }, e.Blocks);               // lists replace
    }

    [Fact]
    public void Errors_name_the_file_and_line_they_come_from()
    {
        Write("base.yaml", "name: base\nmodel:\n  dim: 96\n  heads: 3\n");
        var leaf = Write("leaf.yaml", "base: base.yaml\nname: leaf\n");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<Experiment>(leaf));
        Assert.Contains("base.yaml:4", e.Message);
        Assert.Contains("heads", e.Message);

        Write("good.yaml", "name: base\n");
        var bad = Write("bad.yaml", "base: good.yaml\n\nlearning_rate: fast\n");
        e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<Experiment>(bad));
        Assert.Contains("bad.yaml:3", e.Message);

        var invalid = Write("invalid.yaml", "base: good.yaml\nmodel: {dim: 10, num_heads: 4}\n");   // validation after merging
        e = Assert.Throws<ConfigException>(() => ConfigLoader.Load<Experiment>(invalid));
        Assert.Contains("model.dim", e.Message);
    }

    [Fact]
    public void Missing_and_circular_bases_are_errors()
    {
        var missing = Write("missing.yaml", "base: nowhere.yaml\nname: x\n");
        Assert.Contains("base config not found", Assert.Throws<ConfigException>(() => ConfigLoader.Load<Experiment>(missing)).Message);
        Write("a.yaml", "base: b.yaml\n");
        var b = Write("b.yaml", "base: a.yaml\n");
        Assert.Contains("circular", Assert.Throws<ConfigException>(() => ConfigLoader.Load<Experiment>(b)).Message);
    }

    [Fact]
    public void The_demo_without_r1_differs_from_the_demo_only_in_name_r1_and_its_longer_image_phase()
    {
        var repo = TestPaths.Repo;
        var demo = ConfigLoader.Load<AptLab.Experiments.ExperimentConfig>(Path.Combine(repo, "configs/demo.yaml"));
        var noR1 = ConfigLoader.Load<AptLab.Experiments.ExperimentConfig>(Path.Combine(repo, "configs/demo-no-r1.yaml"));
        Assert.Equal(0, noR1.Apt.Image.R1Lambda);
        Assert.Equal(0, noR1.Apt.Video.R1Lambda);
        Assert.Equal("demo-no-r1", noR1.Name);
        noR1.Name = demo.Name;
        Assert.True(noR1.Apt.Image.Updates > demo.Apt.Image.Updates, "the ablation's own budget: a longer image phase");
        Assert.Equal(1, noR1.Replicates.Count);
        noR1.Apt.Image = noR1.Apt.Image with { R1Lambda = demo.Apt.Image.R1Lambda, Updates = demo.Apt.Image.Updates, Lr = demo.Apt.Image.LrGenerator };
        noR1.Replicates.Count = demo.Replicates.Count;
        noR1.Apt.Video = noR1.Apt.Video with { R1Lambda = demo.Apt.Video.R1Lambda };
        Assert.Equal(ConfigLoader.ToYaml(demo), ConfigLoader.ToYaml(noR1));
    }
}
