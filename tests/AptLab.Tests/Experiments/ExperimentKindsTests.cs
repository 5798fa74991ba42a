using AptLab.Config;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Tests.Experiments;

/// <summary>The shipped configs demo-teacher -> demo-distill -> demo-apt -> demo-compare as four runs chained by
/// their checkpoints (smoke-sized: the sections of demo-smoke.yaml), checked against the demo run of the same
/// settings, which is their composition.</summary>
[Collection("demo-smoke")]
public class ExperimentKindsTests(DemoSmokeRun demo)
{
    private static ExperimentConfig Chained(string name, string results)
    {
        var cfg = DemoSmokeRun.Load(name);
        cfg.Results = results;
        string Rebase(string p) => p.StartsWith("results/") ? Path.Combine(results, p["results/".Length..]) : p;
        cfg.Distill.From = Rebase(cfg.Distill.From);
        cfg.Apt.Teacher = Rebase(cfg.Apt.Teacher);
        cfg.Apt.Student = Rebase(cfg.Apt.Student);
        cfg.Compare.Foundation = Rebase(cfg.Compare.Foundation);
        foreach (var m in cfg.Compare.Methods) m.Model = Rebase(m.Model);
        return cfg;
    }

    private static void AssertSameTensors(string a, string b)
    {
        using var x = Checkpoint.Load(a);
        using var y = Checkpoint.Load(b);
        Assert.Equal(x.Keys.Order(), y.Keys.Order());
        foreach (var k in x.Keys)
            Assert.True(x[k].shape.SequenceEqual(y[k].shape) && x[k].eq(y[k]).all().item<bool>(), $"{Path.GetFileName(a)}: {k} differs");
    }

    [Fact]
    public void Demo_configs_chain_through_their_checkpoints_and_reproduce_the_demo()
    {
        using var tmp = TestPaths.Temp();
        var smoke = DemoSmokeRun.LoadSmoke();                                      // the demo's settings (a fresh copy)
        var log = new StringWriter();

        var teacher = Chained("demo-teacher.yaml", tmp.Path);
        Assert.Equal("teacher", teacher.Experiment);
        (teacher.Data, teacher.Vae, teacher.Teacher) = (smoke.Data, smoke.Vae, smoke.Teacher);
        teacher.Text = smoke.Text;
        var t = ExperimentKinds.Launch(teacher, null, "t1", log);

        var distill = Chained("demo-distill.yaml", tmp.Path);
        Assert.Contains("/latest/", distill.Distill.From);
        smoke.Distill.From = distill.Distill.From;
        distill.Distill = smoke.Distill;
        var d = ExperimentKinds.Launch(distill, null, "d1", log);
        // the resolved config names the concrete foundation, and adopted its architecture
        var recorded = ConfigLoader.Load<ExperimentConfig>(d.ConfigFile);
        Assert.Equal(Path.Combine(t.Checkpoints, "foundation.safetensors"), recorded.Distill.From);
        Assert.Equal(smoke.Teacher.Dim, recorded.Teacher.Dim);

        var apt = Chained("demo-apt.yaml", tmp.Path);
        (smoke.Apt.Teacher, smoke.Apt.Student) = (apt.Apt.Teacher, apt.Apt.Student);
        apt.Apt = smoke.Apt;
        var a = ExperimentKinds.Launch(apt, null, "a1", log);

        var compare = Chained("demo-compare.yaml", tmp.Path);
        compare.Compare.Samples = smoke.Compare.Samples;
        compare.Compare.SheetPrompts = smoke.Compare.SheetPrompts;
        foreach (var m in compare.Compare.Methods.Where(m => m.IsTeacher)) m.Steps = m.Steps > 10 ? 4 : 2;
        var c = ExperimentKinds.Launch(compare, null, "c1", log);

        // The kinds are the demo's stages: same seeds, same code, bit-identical products.
        AssertSameTensors(Path.Combine(demo.Run.Checkpoints, "foundation.safetensors"), Path.Combine(t.Checkpoints, "foundation.safetensors"));
        AssertSameTensors(Path.Combine(demo.Run.Checkpoints, "cd.safetensors"), Path.Combine(d.Checkpoints, "cd.safetensors"));
        AssertSameTensors(Path.Combine(demo.Run.Checkpoints, "apt_image_ema.safetensors"), Path.Combine(a.Checkpoints, "apt_image_ema.safetensors"));
        AssertSameTensors(Path.Combine(demo.Run.Checkpoints, "apt_video_ema.safetensors"), Path.Combine(a.Checkpoints, "apt_video_ema.safetensors"));
        Assert.Equal(MetricsCsv.Read(demo.Run.MetricsCsv).Series("apt_video/loss_d").Values, MetricsCsv.Read(a.MetricsCsv).Series("apt_video/loss_d").Values);

        // The comparison: every listed method, NFE = steps x 2 with CFG, the demo's numbers for the shared methods.
        var rows = File.ReadAllLines(c.File("comparison.csv"));
        Assert.Equal(ComparisonWriter.CsvHeader, rows[0]);
        foreach (var kind in new[] { "image", "video" })
        {
            Assert.Contains(rows, r => r.StartsWith($"{kind},teacher 4 steps CFG 4,4,8,"));
            Assert.Contains(rows, r => r.StartsWith($"{kind},teacher 2 steps CFG 4,2,4,"));
            Assert.Contains(rows, r => r.StartsWith($"{kind},APT 2 steps,2,2,"));
        }
        // (the demo's first training seed: comparison_seeds.csv has one row per method and seed)
        var demoRows = File.ReadAllLines(demo.Run.File("comparison_seeds.csv"));
        var kindRows = File.ReadAllLines(c.File("comparison_seeds.csv"));
        foreach (var method in new[] { "CD 1 step", "APT 1 step", "APT 2 steps", "teacher 4 steps CFG 4" })
            Assert.Equal(Scores(demoRows, "video", method, demo.Config.Seed), Scores(kindRows, "video", method, compare.Seed));
        Assert.True(File.Exists(Path.Combine(c.Samples, "video", "comparison.mp4")));

        // Resuming a finished apt run trains nothing, and keeps its inputs although a newer distill run now stands
        // for 'latest' (this one's checkpoint is not even loadable).
        var newer = Path.Combine(tmp.Path, "demo-distill", "d9");
        Directory.CreateDirectory(Path.Combine(newer, "checkpoints"));
        File.WriteAllText(Path.Combine(newer, "checkpoints", "cd.safetensors"), "not a checkpoint");
        File.WriteAllText(Path.Combine(newer, "config.yaml"), "experiment: distill\n");
        File.SetLastWriteTimeUtc(Path.Combine(newer, "config.yaml"), DateTime.UtcNow.AddMinutes(5));
        var resumed = Chained("demo-apt.yaml", tmp.Path);
        var settings = DemoSmokeRun.LoadSmoke().Apt;
        (settings.Teacher, settings.Student) = (resumed.Apt.Teacher, resumed.Apt.Student);
        resumed.Apt = settings;
        Assert.Contains("/latest/", resumed.Apt.Student);
        var log2 = new StringWriter();
        ExperimentKinds.Launch(resumed, a.Root, null, log2);
        Assert.Equal(Path.Combine(d.Checkpoints, "cd.safetensors"), resumed.Apt.Student);
        Assert.DoesNotContain("[apt_image] done", log2.ToString());
        Assert.Equal(smoke.Apt.Image.Updates, MetricsCsv.Read(a.MetricsCsv).Series("apt_image/loss_d").Values.Length);
        Assert.False(File.Exists(a.File("config-changes.txt")));                   // the same config: nothing to report

        // A resume with changed settings is refused, naming each change, before anything is touched ...
        var recordedYaml = File.ReadAllText(a.ConfigFile);
        var metricsBefore = File.ReadAllBytes(a.MetricsCsv);
        resumed.Seed += 1;
        resumed.Apt.Image = resumed.Apt.Image with { Updates = resumed.Apt.Image.Updates + 1 };
        var e = Assert.Throws<ArgumentException>(() => ExperimentKinds.Launch(resumed, a.Root, null, TextWriter.Null));
        Assert.Contains($"seed: {resumed.Seed - 1} -> {resumed.Seed}", e.Message);
        Assert.Contains($"apt.image.updates: {resumed.Apt.Image.Updates - 1} -> {resumed.Apt.Image.Updates}", e.Message);
        Assert.Contains("2 setting(s)", e.Message);
        Assert.Contains("--allow-config-change", e.Message);
        Assert.Equal(recordedYaml, File.ReadAllText(a.ConfigFile));
        Assert.Equal(metricsBefore, File.ReadAllBytes(a.MetricsCsv));
        // ... and with the override the run continues with the new values, which config.yaml and config-changes.txt record
        var log3 = new StringWriter();
        ExperimentKinds.Launch(resumed, a.Root, null, log3, allowConfigChange: true);
        Assert.Contains("continuing with 2 changed setting(s)", log3.ToString());
        Assert.Equal(resumed.Seed, ConfigLoader.Load<ExperimentConfig>(a.ConfigFile).Seed);
        Assert.Contains($"seed: {resumed.Seed - 1} -> {resumed.Seed}", File.ReadAllText(a.File("config-changes.txt")));
    }

    [Fact]
    public void Sample_kind_writes_sheets_and_costs_without_scores()
    {
        using var tmp = TestPaths.Temp();
        var cfg = DemoSmokeRun.Load("demo-compare.yaml");
        (cfg.Experiment, cfg.Name, cfg.Results) = ("sample", "demo-sample", tmp.Path);
        cfg.Compare.Foundation = demo.Run.Root;                                   // a run folder stands for its foundation
        cfg.Compare.Samples = 4;
        cfg.Compare.Prompts = ["a red circle"];
        cfg.Compare.Methods =
        [
            new() { Model = "teacher", Steps = 3, Guidance = 2 },
            new() { Name = "APT 1 step", Model = demo.Run.Root, Steps = 1 },
            new() { Name = "APT 2 steps", Model = demo.Run.Root, Steps = 2 },
        ];
        var run = ExperimentKinds.Launch(cfg, null, "s1", TextWriter.Null);
        Assert.Equal(Path.Combine(demo.Run.Checkpoints, "apt_video_ema.safetensors"), cfg.Compare.Methods[1].Model);
        var rows = File.ReadAllLines(run.File("samples.csv"));
        Assert.Equal("kind,method,steps,nfe,wall_seconds", rows[0]);
        Assert.Equal(["image,teacher 3 steps CFG 2,3,6", "image,APT 1 step,1,1", "image,APT 2 steps,2,2",
                      "video,teacher 3 steps CFG 2,3,6", "video,APT 1 step,1,1", "video,APT 2 steps,2,2"],
                     rows.Skip(1).Select(r => string.Join(",", r.Split(',')[..4])));
        Assert.False(File.Exists(run.File("comparison.csv")));
        Assert.True(File.Exists(Path.Combine(run.Samples, "image", "frames_apt_2_steps.png")));
        Assert.True(File.Exists(Path.Combine(run.Samples, "video", "comparison.mp4")));
    }

    // frechet_distance and sharpness of a method's row of comparison_seeds.csv
    private static string[] Scores(string[] rows, string kind, string method, ulong seed) =>
        Assert.Single(rows, r => r.StartsWith($"{kind},{method},{seed},")).Split(',')[^2..];

    [Fact]
    public void Missing_or_foreign_inputs_name_the_key()
    {
        using var tmp = TestPaths.Temp();
        var cfg = Chained("demo-distill.yaml", tmp.Path);
        var e = Assert.Throws<DirectoryNotFoundException>(() => ExperimentKinds.Prepare(cfg));
        Assert.Contains("distill.from", e.Message);
        Assert.Contains("latest", e.Message);

        Directory.CreateDirectory(Path.Combine(tmp.Path, "demo-teacher", "r1", "checkpoints"));
        File.WriteAllText(Path.Combine(tmp.Path, "demo-teacher", "r1", "config.yaml"), "");
        var f = Assert.Throws<FileNotFoundException>(() => ExperimentKinds.Prepare(cfg));
        Assert.Contains("distill.from", f.Message);
        Assert.Contains(Path.Combine("r1", "checkpoints", "foundation.safetensors"), f.Message);

        // a CD student is not a foundation
        cfg.Distill.From = Path.Combine(demo.Run.Checkpoints, "cd.safetensors");
        var g = Assert.Throws<InvalidDataException>(() => ExperimentKinds.Prepare(cfg));
        Assert.Contains("not a foundation checkpoint", g.Message);

        // a run folder stands for its product
        Assert.Equal(Path.Combine(demo.Run.Checkpoints, "apt_video_ema.safetensors"),
                     ExperimentKinds.ResolveCheckpoint(demo.Run.Root, "compare.methods[0].model", "apt_video_ema", "cd"));
    }
}
