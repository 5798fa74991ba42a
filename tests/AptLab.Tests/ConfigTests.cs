using AptLab.Config;

namespace AptLab.Tests;

public class ConfigTests
{
    public sealed class Model : IValidatable
    {
        public int Dim { get; set; } = 64;
        public int NumHeads { get; set; } = 4;
        public void Validate(string key, string? file)
        {
            if (Dim % NumHeads != 0) throw ConfigException.For(file, key + ".dim", $"{Dim} is not divisible by num_heads {NumHeads}");
        }
    }

    public sealed class Experiment
    {
        public string Name { get; set; } = "x";
        public double LearningRate { get; set; } = 1e-4;
        public Model Model { get; set; } = new();
        public List<int> Blocks { get; set; } = new();
    }

    [Fact]
    public void Binds_snake_case_keys_and_keeps_defaults()
    {
        var e = ConfigLoader.Parse<Experiment>("name: demo\nlearning_rate: 0.5\nmodel:\n  dim: 96\nblocks: [1, 2]\n");
        Assert.Equal("demo", e.Name);
        Assert.Equal(0.5, e.LearningRate);
        Assert.Equal(96, e.Model.Dim);
        Assert.Equal(4, e.Model.NumHeads);
        Assert.Equal(new[] { 1, 2 }, e.Blocks);
        var round = ConfigLoader.Parse<Experiment>(ConfigLoader.ToYaml(e));
        Assert.Equal(96, round.Model.Dim);
        Assert.Equal(0.5, round.LearningRate);
    }

    [Fact]
    public void Unknown_keys_wrong_types_and_bad_values_name_file_and_key()
    {
        var unknown = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<Experiment>("name: a\nmodel:\n  dimm: 3\n", "exp.yaml"));
        Assert.Equal("unknown key 'dimm' in section 'model' (exp.yaml:3); known keys: dim, num_heads", unknown.Message);
        var type = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<Experiment>("learning_rate: fast\n", "exp.yaml"));
        Assert.Equal("exp.yaml:1:16: 'learning_rate' must be a number, got 'fast'", type.Message);
        var invalid = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<Experiment>("model:\n  dim: 10\n  num_heads: 4\n", "exp.yaml"));
        Assert.Equal("exp.yaml:2: 'model.dim': 10 is not divisible by num_heads 4", invalid.Message);
        var syntax = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<Experiment>("model: [\n", "exp.yaml"));
        Assert.StartsWith("exp.yaml:", syntax.Message);
        var missing = Assert.Throws<ConfigException>(() => ConfigLoader.Load<Experiment>("/nonexistent/exp.yaml"));
        Assert.Contains("/nonexistent/exp.yaml", missing.Message);
    }
}
