using AptLab.Apt;
using AptLab.Config;
using AptLab.Experiments;

namespace AptLab.Tests.Experiments;

public class ExperimentConfigTests
{
    [Fact]
    public void Apt_phases_bind_to_AptPhaseSettings_and_round_trip()
    {
        var cfg = ConfigLoader.Parse<ExperimentConfig>("""
            experiment: apt
            apt:
              image: {updates: 7, micro_batch: 3, accumulation: 5, lr: 2.0e-5, lr_discriminator: 4.0e-5, rms_alpha: 0.8, r1_reading: std}
              video: {updates: 9, lr: 1.0e-6, discriminator_shift: 12, r1_sigma: 0.1}
            """, "x.yaml");
        var i = cfg.Apt.Image;
        Assert.Equal(("image", 7, 3, 5), (i.Name, i.Updates, i.MicroBatch, i.Accumulation));
        Assert.Equal((2e-5, 4e-5, 0.8, R1NoiseReading.Std), (i.LrGenerator, i.LrDiscriminator, i.RmsAlpha, i.R1Reading));
        var v = cfg.Apt.Video;
        Assert.Equal(("video", 1e-6, 1e-6, 12.0, 0.1), (v.Name, v.LrGenerator, v.LrDiscriminator, v.DiscriminatorShift, v.R1Sigma));
        Assert.Equal(0.995, v.EmaDecay);                                         // AptPhaseSettings' default

        var back = ConfigLoader.Parse<ExperimentConfig>(ConfigLoader.ToYaml(cfg), "resolved.yaml");
        Assert.Equal(cfg.Apt.Image, back.Apt.Image);
        Assert.Equal(cfg.Apt.Video, back.Apt.Video);
    }

    [Theory]
    [InlineData("apt: {video: {ema_decay: 1.5}}", "apt.video", "ema_decay")]
    [InlineData("apt: {image: {updates: 0}}", "apt.image", "updates")]
    [InlineData("apt: {image: {rms_alpha: 1}}", "apt.image", "rms_alpha")]
    [InlineData("apt: {image: {lr_generator: 0}}", "apt.image", "lr_generator")]
    [InlineData("apt: {image: {r1_reading: sqrt}}", "", "sqrt")]
    [InlineData("apt: {image: {learning_rate: 1}}", "", "learning_rate")]
    [InlineData("distill: {noise_seeds: 0}", "distill.noise_seeds", "")]
    [InlineData("compare: {methods: [{model: cd.safetensors, steps: 3}]}", "compare.methods[0].steps", "1 or 2")]
    [InlineData("experiment: avatar", "experiment", "teacher, distill, apt, apt-omniavatar, compare, sample")]
    [InlineData("experiment: apt-wan\nwan: {checkpoint: w, image_data: d, video_frames: 48}", "wan.video_frames", "1 + 4k")]
    [InlineData("experiment: apt\nwan: {checkpoint: w, image_data: d}", "wan", "experiment: apt-wan")]
    [InlineData("vae: {lr_schedule: linear}", "vae.lr_schedule", "constant or cosine")]
    [InlineData("vae: {temporal_weight: -1}", "vae.temporal_weight", "finite number >= 0")]
    [InlineData("precision: fp16", "precision", "fp32, bf16-mixed or bf16")]
    [InlineData("parallel: zero3", "parallel", "ddp or fsdp")]
    [InlineData("experiment: apt-wan\nwan: {random_weights: true}", "wan.preset", "random_weights")]
    [InlineData("experiment: omnihuman\nhuman: {model: {dtype: fp32}}", "human.model.vae_path", "human.from names a run")]
    [InlineData("experiment: apt-omnihuman\nhuman: {model: {dtype: fp32, vae_path: v.pth}}", "human.model.text_encoder_path", "required")]
    public void Bad_values_name_the_file_and_key(string yaml, string key, string detail)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>(yaml, "bad.yaml"));
        Assert.Contains("bad.yaml", e.Message);
        Assert.Contains(key, e.Message);
        Assert.Contains(detail, e.Message);
    }

    [Fact]
    public void Every_experiment_config_in_configs_loads()
    {
        var files = Directory.GetFiles(Path.Combine(TestPaths.Repo, "configs"), "*.yaml")
            .Where(f => File.ReadLines(f).Any(l => l.StartsWith("experiment:"))).ToList();
        Assert.Contains(files, f => f.EndsWith("demo-compare.yaml"));
        foreach (var f in files)
            ConfigLoader.Load<ExperimentConfig>(f);
        Assert.Contains(files, f => f.EndsWith("apt-omniavatar-1.3b.yaml"));
    }

    [Fact]
    public void An_apt_omnihuman_run_from_an_omnihuman_run_takes_that_runs_encoders()
    {
        var cfg = ConfigLoader.Parse<ExperimentConfig>("experiment: apt-omnihuman\nhuman:\n  from: results/omnihuman-demo/s0\n  model: {dtype: fp32}\n", "from.yaml");
        Assert.Equal("results/omnihuman-demo/s0", cfg.Human!.From);
        Assert.Equal("", cfg.Human.Model.VaePath);
    }

    [Fact]
    public void Precision_and_parallel_default_to_fp32_ddp_and_the_real_configs_choose_bf16_mixed_fsdp()
    {
        string C(string f) => Path.Combine(TestPaths.Repo, "configs", f);
        var demo = ConfigLoader.Load<ExperimentConfig>(C("demo.yaml"));
        Assert.Equal((AptLab.Training.Precision.Fp32, AptLab.Training.ParallelMode.Ddp), (demo.TrainingPrecision, demo.ParallelMode));
        var tiny = ConfigLoader.Load<ExperimentConfig>(C("apt-wan2.1-tiny.yaml"));
        Assert.Equal((AptLab.Training.Precision.Bf16Mixed, AptLab.Training.ParallelMode.Ddp), (tiny.TrainingPrecision, tiny.ParallelMode));
        foreach (var f in new[] { "apt-wan2.1-t2v-1.3b.yaml", "apt-wan2.1-t2v-14b.yaml", "apt-omniavatar-1.3b.yaml", "omniavatar-1.3b-train.yaml" })
            Assert.Equal(AptLab.Training.Precision.Bf16Mixed, ConfigLoader.Load<ExperimentConfig>(C(f)).TrainingPrecision);
        Assert.Equal(AptLab.Training.ParallelMode.Fsdp, ConfigLoader.Load<ExperimentConfig>(C("apt-wan2.1-t2v-14b.yaml")).ParallelMode);
        // the spellings round-trip through the resolved config.yaml
        var back = ConfigLoader.Parse<ExperimentConfig>(ConfigLoader.ToYaml(tiny), "resolved.yaml");
        Assert.Equal(("bf16-mixed", "ddp"), (back.Precision, back.Parallel));
    }
}
