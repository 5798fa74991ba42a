using System.Globalization;
using AptLab.Config;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Experiments.Human;
using AptLab.Human;
using AptLab.Human.Data;
using AptLab.Logging;
using AptLab.Torch.IO;

namespace AptLab.Tests.Human;

/// <summary>
/// The omnihuman and apt-omnihuman kinds through the experiment runner (docs/omnihuman.md#the-study,
/// docs/omnihuman.md#apt): configs/omnihuman-smoke.yaml (the study's whole path at toy size: clips, VAE, the three
/// stages, the evaluation) chained into apt-omnihuman (CD, image and video phases, exported generator, teacher vs one-step
/// evaluation), and configs/apt-omnihuman-tiny.yaml on a random teacher. The smoke sizes check that every stage runs and
/// reports its measures, not what it learns: the learned lip sync is the demo's (README, `aptlab run
/// configs/omnihuman-demo.yaml`).
/// </summary>
public class HumanExperimentTests
{
    private static ExperimentConfig Load(string name, string root)
    {
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", name));
        cfg.Results = Path.Combine(root, "results");
        if (cfg.Human!.Model.TokenizerPath.Length > 0) cfg.Human.Model.TokenizerPath = Path.Combine(TestPaths.Repo, cfg.Human.Model.TokenizerPath);
        return cfg;
    }

    private static List<Dictionary<string, string>> Csv(string path)
    {
        var lines = File.ReadAllLines(path);
        var head = lines[0].Split(',');
        return lines.Skip(1).Where(l => l.Length > 0).Select(l =>
        {
            var f = CsvLine.Split(l, out var err);
            Assert.Null(err);
            return head.Zip(f).ToDictionary(z => z.First, z => z.Second);
        }).ToList();
    }

    private static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>Real talking faces measured from pixels: the mouth follows the clip's own envelope (r close to 1) and not
    /// another clip's (r near 0), and the measured face centre is the requested one within a pixel. Catches a broken
    /// measure, which would make every study figure meaningless.</summary>
    [Fact]
    public void Face_measures_recover_the_envelope_and_the_centre_of_real_clips()
    {
        using var _ = torch.NewScope();
        var faces = new TalkingFaces(32, 18, seed: 4);
        double own = 0, other = 0, err = 0;
        const int n = 8;
        for (int i = 0; i < n; i++)
        {
            var c = faces.Get(i);
            var m = FaceMeasures.Measure(torch.tensor(c.Pixels, 3, 18, 32, 32));
            own += FaceMeasures.Correlation(m.Select(f => f.MouthOpening).ToArray(), c.Envelope) / n;
            other += FaceMeasures.Correlation(m.Select(f => f.MouthOpening).ToArray(), faces.Get(i + 100).Envelope) / n;
            err += m.Select((f, k) => Math.Sqrt(Math.Pow(f.CentreX - c.Centre[k].X, 2) + Math.Pow(f.CentreY - c.Centre[k].Y, 2))).Average() / n;
        }
        Assert.True(own > 0.9, $"own envelope r = {own}");
        Assert.True(Math.Abs(other) < 0.35, $"another clip's envelope r = {other}");
        Assert.True(err < 1.0, $"centre error {err} px");
    }

    /// <summary>The study at smoke size, then its one-step student. omnihuman: the three stages' products and the
    /// stage-wise condition rates (no audio in stage 1, no pose before stage 3), eval.csv with every setting for every
    /// seed, finite measures, the real-clip ceiling above the shuffled-envelope floor. apt-omnihuman from that run: every
    /// stage's checkpoint, an exported generator that loads as an OmniHuman file, and the teacher vs CD vs APT table.</summary>
    [Fact]
    public void Smoke_study_trains_three_stages_evaluates_and_distils_to_one_step()
    {
        using var _ = torch.NewScope();
        using var tmp = TestPaths.Temp();
        var cfg = Load("omnihuman-smoke.yaml", tmp.Path);
        var log = new StringWriter();
        var run = ExperimentKinds.Launch(cfg, null, "smoke", log);
        foreach (var f in new[] { "omnihuman", "omnihuman_stage1", "omnihuman_stage2", "omnihuman_stage3", "encoders" })
            Assert.True(File.Exists(Path.Combine(run.Checkpoints, f + ".safetensors")), $"checkpoints/{f}.safetensors");
        var stages = cfg.Human!.Train.Stages;
        var m = MetricsCsv.Read(run.MetricsCsv);
        var vae = cfg.Human!.Study!.Vae;                                                    // cosine from lr to 0 over the steps
        var lr = m.Series("vae/lr").Values;
        Assert.Equal(vae.Steps, lr.Length);
        for (int k = 0; k < lr.Length; k++)
            Assert.Equal(vae.Lr * 0.5 * (1 + Math.Cos(Math.PI * k / vae.Steps)), lr[k], 12);
        Assert.Equal(cfg.Human.Study!.Eval.Samples, HumanStudy.VaeCheckClips(cfg.Human.Study));  // fewer than 64: the whole eval set
        Assert.Contains($"[vae] round trip of {cfg.Human.Study.Eval.Samples} held-out segments: lip-sync r", log.ToString());
        // The check after VAE training is the evaluation's "real clips through the VAE" row, measured before the DiT
        // trains: the same segments, envelopes, face centres and VAE (a check on other clips or another seed's faces
        // would report a ceiling the evaluation does not have).
        var checkR = Assert.Single(m.Series("vae/roundtrip_lipsync_r").Values);
        var checkPose = Assert.Single(m.Series("vae/roundtrip_pose_error_px").Values);
        Assert.True(double.IsFinite(checkR));
        Assert.InRange(checkPose, 0, 32);
        Assert.Equal(Assert.Single(m.Series("eval/real_through_vae/lipsync_r").Values), checkR, 1e-4);
        Assert.Equal(Assert.Single(m.Series("eval/real_through_vae/pose_error_px").Values), checkPose, 1e-3);
        var stage = m.Series("train/stage").Values;
        var audio = m.Series("train/on_audio").Values;
        var pose = m.Series("train/on_pose").Values;
        Assert.Equal(stages.Sum(s => s.Steps), stage.Length);
        for (int i = 0; i < stage.Length; i++)
        {
            if (stage[i] < 2) Assert.Equal(0, audio[i]);
            if (stage[i] < 3) Assert.Equal(0, pose[i]);
        }
        var rows = Csv(Path.Combine(run.Root, "eval.csv"));
        var seeds = cfg.Human.Study!.Eval.Seeds;
        Assert.Equal(HumanStudy.Settings.Length * seeds.Count, rows.Count);
        foreach (var (setting, _, _) in HumanStudy.Settings)
            foreach (var seed in seeds)
                Assert.Single(rows, r => r["setting"] == setting && r["seed"] == seed.ToString());
        foreach (var r in rows)
            foreach (var k in new[] { "lipsync_r", "pose_error_px", "frechet_distance", "sharpness" })
                Assert.True(double.IsFinite(D(r[k])), $"{k} = {r[k]}");
        var readme = File.ReadAllText(Path.Combine(run.Root, "README.md"));
        Assert.Contains("audio dropped", readme);
        Assert.Contains("noise floor", readme);
        Assert.Contains("real clips through the VAE", readme);

        var apt = Load("apt-omnihuman-tiny.yaml", tmp.Path);
        apt.Human = cfg.Human;
        apt.Human.From = run.Root;
        apt.Experiment = "apt-omnihuman";
        apt.Name = "apt-omnihuman-smoke";
        var aptRun = ExperimentKinds.Launch(apt, null, "smoke", log);
        foreach (var f in new[] { "cd", "apt_image_ema", "apt_video_ema" })
            Assert.True(File.Exists(Path.Combine(aptRun.Checkpoints, f + ".safetensors")), $"checkpoints/{f}.safetensors");
        using var gen = OmniHumanWeights.Load(Path.Combine(aptRun.Root, HumanAptExperiment.Export));
        using var teacher = OmniHumanWeights.Load(Path.Combine(run.Checkpoints, HumanModels.DitFile));
        var ts = teacher.state_dict();
        Assert.Equal(ts.Keys.Order(), gen.state_dict().Keys.Order());
        Assert.All(ts, kv => Assert.Equal(kv.Value.shape, gen.state_dict()[kv.Key].shape));
        Assert.True(gen.state_dict().Max(kv => (kv.Value - ts[kv.Key]).abs().max().item<double>()) > 0, "the student equals the teacher");
        var aptRows = Csv(Path.Combine(aptRun.Root, "eval.csv"));
        Assert.Equal(3 * HumanStudy.Settings.Length * seeds.Count, aptRows.Count);
        Assert.Equal(["CD, 1 step", "APT, 1 step"], aptRows.Select(r => r["method"]).Distinct().Skip(1).ToArray());
        Assert.All(aptRows.Where(r => r["method"] != aptRows[0]["method"]), r => Assert.Equal("1", r["nfe"]));
    }

    /// <summary>configs/apt-omnihuman-tiny.yaml on a random teacher: CD, both phases, every stage moving the generator,
    /// and generator.safetensors loading as an OmniHuman file with the teacher's keys.</summary>
    [Fact]
    public void Tiny_random_teacher_distils_trains_both_phases_and_exports_the_generator()
    {
        using var _ = torch.NewScope();
        using var tmp = TestPaths.Temp();
        var cfg = Load("apt-omnihuman-tiny.yaml", tmp.Path);
        var run = ExperimentKinds.Launch(cfg, null, "tiny", new StringWriter());
        var m = MetricsCsv.Read(run.MetricsCsv);
        Assert.Equal(cfg.Distill.Steps, m.Series("cd/loss").Values.Length);
        foreach (var (phase, updates) in new[] { ("apt_image", cfg.Apt.Image.Updates), ("apt_video", cfg.Apt.Video.Updates) })
            foreach (var tag in new[] { "loss_d", "loss_g", "grad_norm_d", "grad_norm_g" })
            {
                var v = m.Series($"{phase}/{tag}").Values;
                Assert.Equal(updates, v.Length);
                Assert.All(v, x => Assert.True(double.IsFinite(x), $"{phase}/{tag} = {x}"));
            }
        using var cd = Checkpoint.Load(Path.Combine(run.Checkpoints, "cd.safetensors"));
        using var image = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_image_ema.safetensors"));
        using var video = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_video_ema.safetensors"));
        static double Diff(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b) =>
            a.Keys.Max(k => (a[k] - b[k]).abs().max().item<double>());
        Assert.True(Diff(image, cd) > 0);
        Assert.True(Diff(video, image) > 0);
        using var gen = OmniHumanWeights.Load(Path.Combine(run.Root, HumanAptExperiment.Export));
        Assert.Equal(video.Keys.Order(), gen.state_dict().Keys.Order());
        Assert.Equal(0.0, Diff(video, gen.state_dict()));
    }
}
