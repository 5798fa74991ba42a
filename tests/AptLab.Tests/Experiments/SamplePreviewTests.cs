using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Training;

namespace AptLab.Tests.Experiments;

/// <summary>The training-time sample sheets (experiments/SamplePreview.cs): they must not change the training they show.</summary>
public class SamplePreviewTests
{
    /// <summary>CD at smoke size on random latents, with a sheet after every step or none: the same losses and the same
    /// student bit for bit (a preview that drew from the training's generator, kept a graph, or left the model in
    /// another mode would change them), and the sheets land at the expected steps.</summary>
    [Fact]
    public void Sample_sheets_change_none_of_the_training_numbers()
    {
        using var temp = TestPaths.Temp();
        (double loss, float[] weights, List<long> sheetSteps) Train(int every)
        {
            var cfg = DemoSmokeRun.LoadSmoke();
            cfg.Results = temp.Path;
            cfg.Distill.Steps = 3;
            cfg.Distill.SampleEvery = every;
            var run = RunDirectory.Create(cfg.Results, cfg.Name, $"preview-{every}");
            float[] weights;
            using (var ctx = new StudyContext(cfg, run, TextWriter.Null))
            {
                using (var g = new Generator(5)) ctx.ImageLatents = torch.randn(CompareStage.LatentShape(ctx, cfg.Data.TrainImages, video: false), generator: g);
                using var student = CdStage.Distill(ctx, ctx.Teacher, cache: null);
                weights = Flatten(student);
            }
            var steps = EventFileReader.ReadRun(run.Events).Where(e => e.Values.Any(v => v.Tag == "cd/samples")).Select(e => e.Step).ToList();
            var csv = MetricsCsv.Read(run.MetricsCsv).Series("cd/loss").Values;
            return (csv[^1], weights, steps);
        }
        var (lossOff, weightsOff, sheetsOff) = Train(0);
        var (lossOn, weightsOn, sheetsOn) = Train(1);
        Assert.Empty(sheetsOff);
        Assert.Equal([1L, 2L, 3L], sheetsOn);
        Assert.Equal(lossOff, lossOn);
        Assert.Equal(weightsOff, weightsOn);
    }

    /// <summary>All parameters of a model flattened to float32 (a fingerprint for bitwise comparison).</summary>
    private static float[] Flatten(AptLab.Apt.FlowModel model) =>
        model.Module.parameters().SelectMany(p => { using var f = p.detach().to(ScalarType.Float32).flatten(); return f.data<float>().ToArray(); }).ToArray();
}
