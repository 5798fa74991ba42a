using AptLab.Evaluation.Standard;
using AptLab.Config;
using AptLab.Evaluation;
using AptLab.Experiments;

namespace AptLab.Tests.Evaluation;

/// <summary>The comparison's optional standard metrics: the config section and the table it writes.</summary>
public class ComparisonStandardMetricsTests
{
    [Fact]
    public void The_evaluation_section_binds_and_validates_in_an_experiment_config()
    {
        var cfg = ConfigLoader.Parse<ExperimentConfig>("evaluation:\n  metrics: [fid, fvd]\n  weights_dir: w\n  random_weights: true\n  fvd_frames: 9\n");
        Assert.Equal(["fid", "fvd"], cfg.Evaluation!.Metrics);
        Assert.Equal("w", cfg.Evaluation.WeightsDir);
        Assert.True(cfg.Evaluation.RandomWeights);
        Assert.Null(ConfigLoader.Parse<ExperimentConfig>("name: x\n").Evaluation);         // absent: built-in features only
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>("evaluation:\n  metrics: [fid, is]\n"));
        Assert.Contains("evaluation.metrics", e.Message);
        Assert.Contains("'is'", e.Message);
    }

    [Fact]
    public void Fid_of_each_method_against_real_samples_is_written_and_a_copy_of_the_real_set_scores_zero()
    {
        using var scope = torch.NewScope();
        using var tmp = TestPaths.Temp();
        using var g = new Generator(3);
        var real = torch.rand([3, 3, 24, 24], generator: g) * 2 - 1;            // images in [-1, 1]
        var other = torch.rand([3, 3, 24, 24], generator: g) * 1.6 - 0.8;
        var methods = new List<ComparisonMethod> { new("copy", 1, 1, 0, real.clone()), new("other", 1, 1, 0, other) };
        var log = new StringWriter();
        ComparisonStandardMetrics.Write(new EvaluationConfig { Metrics = ["fid", "fvd"], RandomWeights = true }, tmp.Path, real, methods, log);
        Assert.Contains("FVD skipped", log.ToString());                         // images have no clips
        var lines = File.ReadAllLines(Path.Combine(tmp.Path, "standard_metrics.csv"));
        Assert.Equal(ComparisonStandardMetrics.CsvHeader, lines[0]);
        Assert.Equal(3, lines.Length);
        var copy = lines[1].Split(',');
        var oth = lines[2].Split(',');
        Assert.Equal(["copy", "FID"], copy[..2]);
        double fCopy = double.Parse(copy[2], System.Globalization.CultureInfo.InvariantCulture);
        double fOther = double.Parse(oth[2], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(fCopy < 1e-6 * fOther, $"copy {fCopy}, other {fOther}");
        Assert.Contains("random weights", lines[2]);
    }
}
