using AptLab.Apt;
using AptLab.Config;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Torch.IO;
using AptLab.Avatar.Apt;
using AptLab.Experiments.Avatar;

namespace AptLab.Tests.Avatar.Apt;

/// <summary>configs/apt-omniavatar-tiny.yaml through the experiment runner: CD, image and video phases, checkpoints,
/// resume (mid image phase and after it) continuing with the losses of the uninterrupted run, and the exported
/// one-step generator.</summary>
public class AvatarAptRunTests
{
    private static ExperimentConfig TinyConfig(string root)
    {
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "apt-omniavatar-tiny.yaml"));
        cfg.Results = Path.Combine(root, "results");
        cfg.Omniavatar!.Data.TokenizerPath = Path.Combine(TestPaths.Repo, cfg.Omniavatar.Data.TokenizerPath);
        return cfg;
    }

    private static readonly string[] Tags = ["loss_d", "loss_g", "r1", "logit_real", "logit_fake", "grad_norm_d", "grad_norm_g"];

    /// <summary>A new run folder holding only <paramref name="files"/> of <paramref name="run"/>'s checkpoints (and its
    /// config.yaml): the state of a run interrupted after them.</summary>
    private static string Interrupted(string run, string name, params string[] files)
    {
        var dir = Path.Combine(Path.GetDirectoryName(run)!, name);
        Directory.CreateDirectory(Path.Combine(dir, "checkpoints"));
        File.Copy(Path.Combine(run, "config.yaml"), Path.Combine(dir, "config.yaml"));
        foreach (var f in files) File.Copy(Path.Combine(run, "checkpoints", f), Path.Combine(dir, "checkpoints", f));
        return dir;
    }

    [Fact]
    public void Tiny_run_distills_trains_both_phases_resumes_identically_and_exports_the_generator()
    {
        using var _ = torch.NewScope();
        using var tmp = TestPaths.Temp();
        var cfg = TinyConfig(tmp.Path);
        var log = new StringWriter();
        var run = ExperimentKinds.Launch(cfg, null, "full", log);
        var m = MetricsCsv.Read(run.MetricsCsv);

        var cd = m.Series("cd/loss").Values;
        Assert.Equal(4, cd.Length);
        Assert.All(cd, l => Assert.True(double.IsFinite(l) && l > 0, $"cd/loss {l}"));
        foreach (var (phase, updates) in new[] { ("apt_image", 3), ("apt_video", 2) })
            foreach (var tag in Tags)
            {
                var v = m.Series($"{phase}/{tag}").Values;
                Assert.Equal(updates, v.Length);
                Assert.All(v, x => Assert.True(double.IsFinite(x), $"{phase}/{tag} = {x}"));
                if (tag.StartsWith("grad_norm")) Assert.All(v, x => Assert.True(x > 0, $"{phase}/{tag} = 0"));
            }
        Assert.Contains("negative prompt:", log.ToString());
        Assert.Contains("effective batch 4", log.ToString());                                  // image: 2 x 2 x 1 rank
        foreach (var f in new[] { "cd", "apt_image_ema", "apt_video_ema", "apt_image-step-000002", "apt_image-step-000003", "apt_video-step-000001", "apt_video-step-000002" })
            Assert.True(File.Exists(Path.Combine(run.Checkpoints, f + ".safetensors")), $"checkpoints/{f}.safetensors");

        // every stage moved the generator: teacher -> CD -> image EMA -> video EMA
        using var teacher = AvatarAptModels.BuildTeacher(cfg.Omniavatar!, Device.CPU, cfg.Seed, []);
        using var cdState = Checkpoint.Load(Path.Combine(run.Checkpoints, "cd.safetensors"));
        using var imageState = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_image_ema.safetensors"));
        using var videoState = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_video_ema.safetensors"));
        var teacherState = teacher.Net.state_dict();
        Assert.Equal(teacherState.Keys.Order(), videoState.Keys.Order());                     // plain OmniAvatar keys, no LoRA
        static double Diff(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b) =>
            a.Keys.Max(k => (a[k] - b[k]).abs().max().item<double>());
        Assert.True(Diff(cdState, teacherState) > 0);
        Assert.True(Diff(imageState, cdState) > 0);
        Assert.True(Diff(videoState, imageState) > 0);

        // resumed from the image phase's checkpoint of update 2, and from its end: the same losses as without interruption
        foreach (var (name, files, phases) in new[]
        {
            ("mid-image", new[] { "cd.safetensors", "apt_image-step-000002.safetensors" }, new[] { "apt_image", "apt_video" }),
            ("after-image", new[] { "cd.safetensors", "apt_image_ema.safetensors" }, new[] { "apt_video" }),
        })
        {
            var dir = Interrupted(run.Root, name, files);
            var resumedLog = new StringWriter();
            ExperimentKinds.Launch(TinyConfig(tmp.Path), dir, null, resumedLog);
            var r = MetricsCsv.Read(Path.Combine(dir, "metrics.csv"));
            Assert.False(r.Contains("cd/loss"));                                           // CD was not redone
            Assert.Equal(name == "mid-image" ? 1 : 0, r.Contains("apt_image/loss_d") ? r.Series("apt_image/loss_d").Values.Length : 0);
            foreach (var phase in phases)
                foreach (var tag in Tags)
                {
                    var full = m.Series($"{phase}/{tag}");
                    var resumed = r.Series($"{phase}/{tag}");
                    Assert.True(resumed.Values.Length > 0, $"{name}: no {phase}/{tag}");
                    for (int i = 0; i < resumed.Values.Length; i++)
                    {
                        long step = resumed.Steps[i];
                        double expected = full.Values[Array.IndexOf(full.Steps, step)];
                        Assert.True(Math.Abs(resumed.Values[i] - expected) <= 1e-6 * Math.Max(1, Math.Abs(expected)),
                            $"{name}: {phase}/{tag} at update {step}: {resumed.Values[i]} vs {expected} uninterrupted");
                    }
                }
            if (name == "mid-image") Assert.Contains("resumed from", resumedLog.ToString());
            using var resumedVideo = Checkpoint.Load(Path.Combine(dir, "checkpoints", "apt_video_ema.safetensors"));
            Assert.True(Diff(resumedVideo, videoState) < 1e-6, $"{name}: the video EMA differs from the uninterrupted run's");
        }

        // the exported generator = the trainer's EMA at the last update (stored in the last phase checkpoint)
        using var gen = AvatarGenerator.Load(run.File(AvatarAptExperiment.Export));
        using var last = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_video-step-000002.safetensors"));
        using var ema = (OmniAvatarFlowModel)teacher.Copy();
        ema.Net.load_state_dict(last.Where(kv => kv.Key.StartsWith("ema.")).ToDictionary(kv => kv.Key[4..], kv => kv.Value), strict: true);
        using var g = new Generator(9);
        var samples = AvatarAptSamples.Open(Path.Combine(run.Root, "cache"), cfg.Omniavatar!.Data, Device.CPU, ScalarType.Float32);
        var (x, c) = samples.Batch(2, video: true, g);
        var z = torch.randn(x.shape, generator: g);
        var expectedOut = OneStepGenerator.Generate(ema, z, c);
        var got = OneStepGenerator.Generate(gen, z, c);
        Assert.Equal(expectedOut.data<float>(), got.data<float>());
        Assert.True((expectedOut - OneStepGenerator.Generate(teacher, z, c)).abs().max().item<float>() > 1e-4f);   // not the teacher
    }
}
