using AptLab.Experiments;

namespace AptLab.Tests.Experiments;

/// <summary>A run that starts from a foundation takes only its architecture (and the data it was built on), says so
/// once per changed value, and keeps its own sampling and training values.</summary>
[Collection("demo-smoke")]
public class FoundationAdoptionTests(DemoSmokeRun demo)
{
    [Fact]
    public void Adoption_takes_the_architecture_warns_per_changed_value_and_keeps_sampling_values()
    {
        var cfg = DemoSmokeRun.LoadSmoke();                                        // the foundation's own settings
        (cfg.Experiment, cfg.Name) = ("compare", "adopt");
        cfg.Compare.Foundation = demo.Run.Root;
        cfg.Compare.Methods = [new CompareMethodConfig { Model = "teacher", Steps = 2 }];
        var own = (cfg.Teacher.Dim, cfg.Vae.DimMult.ToList(), cfg.Data.TrainImages);
        cfg.Teacher.Dim = own.Dim * 2;                                             // architecture: adopted back, with a warning
        cfg.Vae.DimMult = [1, 2];
        cfg.Data.TrainImages = own.TrainImages + 1;                                // the data it was built on: adopted too
        cfg.Teacher.Steps = 12345;                                                 // a training value: the run's own
        cfg.Teacher.Shift = 7;
        (cfg.Sampling.Guidance, cfg.Sampling.Shift, cfg.Sampling.NegativePrompt, cfg.Sampling.TwoStepShift) = (2.5, 9, "blurry", 5);
        var log = new StringWriter();
        ExperimentKinds.Prepare(cfg, log);

        var lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);                                             // one line per changed value, nothing else
        Assert.Contains(lines, l => l.StartsWith($"warning: teacher.dim: {own.Dim * 2} -> {own.Dim} ") && l.Contains("foundation.safetensors"));
        Assert.Contains(lines, l => l.StartsWith($"warning: vae.dim_mult: [1, 2] -> [{string.Join(", ", own.Item2)}] "));
        Assert.Contains(lines, l => l.StartsWith($"warning: data.train_images: {own.TrainImages + 1} -> {own.TrainImages} "));
        Assert.Equal((own.Dim, own.TrainImages), (cfg.Teacher.Dim, cfg.Data.TrainImages));
        Assert.Equal(own.Item2, cfg.Vae.DimMult);
        Assert.Equal((12345, 7.0), (cfg.Teacher.Steps, cfg.Teacher.Shift));
        Assert.Equal((2.5, 9.0, "blurry", 5.0), (cfg.Sampling.Guidance, cfg.Sampling.Shift, cfg.Sampling.NegativePrompt, cfg.Sampling.TwoStepShift));

        // the same config again: nothing to adopt, nothing said
        var quiet = new StringWriter();
        ExperimentKinds.Prepare(cfg, quiet);
        Assert.Equal("", quiet.ToString());
    }
}
