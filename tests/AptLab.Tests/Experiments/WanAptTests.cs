using System.Text.Json;
using AptLab.Apt;
using AptLab.Config;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Logging;
using AptLab.Wan;
using AptLab.Torch.IO;

namespace AptLab.Tests.Experiments;

/// <summary>The APT configs for the released Wan 2.1 models (shape-checked on the meta device) and the apt kind on a
/// tiny Wan checkpoint with latent-cache data.</summary>
public class WanAptTests
{
    private static long Count(AptLab.Torch.nn.Module m) => m.parameters().Sum(p => p.shape.Aggregate(1L, (a, b) => a * b));

    // Closed form of a Wan 2.1 T2V DiT's parameters (patch, text and time embeddings, blocks, head).
    private static long WanParameters(WanConfig c)
    {
        long d = c.Dim, f = c.FfnDim;
        long embed = d * c.InDim * 4 + d + c.TextDim * d + d + d * d + d + c.FreqDim * d + d + d * d + d + 6 * d * d + 6 * d;
        long block = 2 * (4 * (d * d + d) + 2 * d) + 2 * d + (d * f + f + f * d + d) + 6 * d;
        return embed + c.NumLayers * block + d * c.OutDim * 4 + c.OutDim * 4 + 2 * d;
    }

    // Closed form of the three read-out heads (docs/apt.md#heads) + LayerNorm(3C) + Linear(3C -> 1).
    private static long ReadoutParameters(long d, long heads, long count)
    {
        long head = 3 * d + 4 * (d * d + d) + 2 * (d / heads) + 2 * d + (d * 4 * d + 4 * d + 4 * d * d + d);
        return count * head + 2 * count * d + count * d + 1;
    }

    [Theory]
    [InlineData("apt-wan2.1-t2v-1.3b.yaml", 1_418_996_800L, new[] { 12, 21, 29 }, 30, 9216, 20_280)]
    [InlineData("apt-wan2.1-t2v-14b.yaml", 14_288_491_584L, new[] { 17, 28, 39 }, 40, 9216, 18_000)]   // 17-frame 720p clips: 49 frames need sequence parallelism (`aptlab plan`)
    public void Real_size_configs_build_on_the_meta_device_with_the_papers_settings(string file, long dit, int[] heads, int layers,
        int imageBatch, int videoTokens)
    {
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", file));
        Assert.Equal("apt-wan", cfg.Experiment);
        var arch = cfg.Wan!.Architecture()!;
        Assert.Equal(layers, arch.NumLayers);
        Assert.Equal(heads, cfg.Apt.HeadLayers);
        Assert.Equal(DiscriminatorReadout.DefaultLayers(layers), cfg.Apt.HeadLayers);         // docs/apt.md#heads's rule

        using var teacher = new WanFlowModel(new WanModel(arch, ScalarType.BFloat16, Device.Meta));
        using var student = new WanFlowModel(new WanModel(arch, ScalarType.BFloat16, Device.Meta));
        using var d = new Discriminator(new WanFlowModel(new WanModel(arch, ScalarType.BFloat16, Device.Meta)), cfg.Apt.HeadLayers.ToArray());
        Assert.All(d.parameters(), p => Assert.Equal(DeviceType.Meta, p.device.Type));
        Assert.Equal(dit, WanParameters(arch));
        Assert.Equal(dit, Count(teacher.Module));
        Assert.Equal(dit, Count(student.Module));
        Assert.Equal(dit + ReadoutParameters(arch.Dim, arch.NumHeads, 3), Count(d));
        Assert.Equal(heads, d.Layers);

        // docs/apt.md#phases (image | video)
        var (i, v) = (cfg.Apt.Image, cfg.Apt.Video);
        Assert.Equal((350, 300), (i.Updates, v.Updates));
        Assert.Equal((5e-6, 5e-6, 3e-6, 3e-6), (i.LrGenerator, i.LrDiscriminator, v.LrGenerator, v.LrDiscriminator));
        Assert.Equal((0.9, 0.9, 1e-8), (i.RmsAlpha, v.RmsAlpha, i.RmsEps));
        Assert.Equal((0.995, 0.995), (i.EmaDecay, v.EmaDecay));
        Assert.Equal((1.0, 12.0), (i.DiscriminatorShift, v.DiscriminatorShift));
        Assert.Equal((100.0, 0.01, 100.0, 0.1), (i.R1Lambda, i.R1Sigma, v.R1Lambda, v.R1Sigma));
        Assert.Equal((R1NoiseReading.Variance, R1NoiseReading.Variance), (i.R1Reading, v.R1Reading));
        Assert.Equal((imageBatch, 2048), (cfg.Apt.EffectiveBatch(i), cfg.Apt.EffectiveBatch(v)));
        var video = cfg.Wan.LatentShape(video: true);
        Assert.Equal(1 + (cfg.Wan.VideoFrames - 1) / 4, video[1]);                               // 49 frames -> 13, 17 -> 5
        Assert.Equal(videoTokens, video[1] * video[2] / 2 * video[3] / 2);                       // patch 1x2x2
        Assert.Equal(1, cfg.Wan.LatentShape(video: false)[1]);
        // the CD recipe of docs/consistency-distillation.md#settings, run first (empty apt.student) with Wan's negative prompt encoded by the release's umT5
        Assert.Equal((32, 5.0, 5.0, 1e-5, 0.01), (cfg.Distill.N, cfg.Distill.Shift, cfg.Distill.Guidance, cfg.Distill.Lr, cfg.Distill.WeightDecay));
        Assert.Equal(5000, cfg.Distill.Steps);
        Assert.True(cfg.Distill.Batch >= 64 && cfg.Distill.Batch % cfg.Apt.WorldSize == 0, $"distill.batch {cfg.Distill.Batch} must split over {cfg.Apt.WorldSize} ranks");
        Assert.Equal("", cfg.Apt.Student);
        Assert.Equal(AptLab.Wan.Text.WanNegativePrompts.Default, cfg.Wan.NegativePrompt);
        Assert.Equal(Path.Combine(cfg.Wan.Checkpoint, "models_t5_umt5-xxl-enc-bf16.pth"), cfg.Wan.TextEncoderPath);
    }

    private static readonly WanConfig Tiny = WanConfig.TinyT2V with { TextLen = 8 };

    private static void WriteCache(string dir, long[] shape, int count, Generator g, int contextLen = 5)
    {
        var cache = LatentCache.Open(dir);
        for (int k = 0; k < count; k++)
            cache.Add($"s{k}", $"sample {k}", new Dictionary<string, Tensor>
            {
                ["latents"] = torch.randn(shape, generator: g) * 2.0 + 0.5,
                ["context"] = torch.randn([contextLen - k % 2, Tiny.TextDim], generator: g),
            });
    }

    private static ExperimentConfig TinyConfig(string root)
    {
        var wanDir = Path.Combine(root, "wan");
        Directory.CreateDirectory(wanDir);
        using (var g = new Generator(3))
        using (var model = new WanModel(Tiny, generator: g))
        {
            using (torch.no_grad()) model.head.head.weight.normal_(0, 0.05);
            Safetensors.Save(Path.Combine(wanDir, "diffusion_pytorch_model.safetensors"), model.state_dict());
            Safetensors.Save(Path.Combine(root, "cd.safetensors"), model.state_dict());
        }
        File.WriteAllText(Path.Combine(wanDir, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_type"] = "t2v", ["text_len"] = Tiny.TextLen, ["in_dim"] = Tiny.InDim, ["dim"] = Tiny.Dim, ["ffn_dim"] = Tiny.FfnDim,
            ["freq_dim"] = Tiny.FreqDim, ["text_dim"] = Tiny.TextDim, ["out_dim"] = Tiny.OutDim, ["num_heads"] = Tiny.NumHeads,
            ["num_layers"] = Tiny.NumLayers,
        }));
        using (var g = new Generator(4))
        {
            WriteCache(Path.Combine(root, "images"), [16, 1, 4, 4], 6, g);
            WriteCache(Path.Combine(root, "clips"), [16, 2, 4, 4], 4, g);
        }
        var cfg = ConfigLoader.Load<ExperimentConfig>(Path.Combine(TestPaths.Repo, "configs", "apt-wan2.1-t2v-1.3b.yaml"));
        cfg.Device = "cpu";
        cfg.Results = Path.Combine(root, "results");
        var w = cfg.Wan!;
        (w.Preset, w.Checkpoint, w.Dtype, w.GradientCheckpointing) = ("", wanDir, "float32", false);
        (w.ImageData, w.VideoData, w.ImageSize, w.VideoSize, w.VideoFrames) = (Path.Combine(root, "images"), Path.Combine(root, "clips"), "32x32", "32x32", 5);
        cfg.Apt.Student = Path.Combine(root, "cd.safetensors");
        cfg.Apt.WorldSize = 0;
        cfg.Apt.HeadLayers = [];
        cfg.Apt.Image = cfg.Apt.Image with { Updates = 3, MicroBatch = 2, Accumulation = 2, CheckpointEvery = 2 };
        cfg.Apt.Video = cfg.Apt.Video with { Updates = 2, MicroBatch = 2, Accumulation = 1, CheckpointEvery = 2 };
        return cfg;
    }

    [Fact]
    public void Apt_kind_trains_a_tiny_wan_checkpoint_on_latent_caches()
    {
        using var tmp = TestPaths.Temp();
        var cfg = TinyConfig(tmp.Path);
        var log = new StringWriter();
        var run = ExperimentKinds.Launch(cfg, null, "tiny", log);

        var m = MetricsCsv.Read(run.MetricsCsv);
        foreach (var (phase, updates) in new[] { ("apt_image", 3), ("apt_video", 2) })
        {
            foreach (var tag in new[] { "loss_d", "loss_g", "r1", "grad_norm_g" })
            {
                var values = m.Series($"{phase}/{tag}").Values;
                Assert.Equal(updates, values.Length);
                Assert.All(values, x => Assert.True(double.IsFinite(x), $"{phase}/{tag}"));
            }
            Assert.All(m.Series($"{phase}/grad_norm_g").Values, x => Assert.True(x > 0));     // D differentiated through (docs/apt.md#known-pitfalls)
        }
        Assert.Contains("effective batch 4", log.ToString());                                   // 2 x 2 x 1 rank

        // The products: EMA generators that moved away from the CD student, video after image.
        using var student = Checkpoint.Load(cfg.Apt.Student);
        using var image = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_image_ema.safetensors"));
        using var video = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_video_ema.safetensors"));
        Assert.True(Diff(image, student) > 0);
        Assert.True(Diff(video, image) > 0);
        Assert.Equal(student.Keys.Order(), video.Keys.Order());

        // Resuming the finished run trains nothing and keeps the products.
        var log2 = new StringWriter();
        ExperimentKinds.Launch(cfg, run.Root, null, log2);
        Assert.Equal(3, MetricsCsv.Read(run.MetricsCsv).Series("apt_image/loss_d").Values.Length);
        Assert.DoesNotContain("done in", log2.ToString());
    }

    [Fact]
    public void Both_phases_build_the_discriminator_from_the_original_teacher_not_the_generator()
    {
        // docs/apt.md#discriminator: D is a copy of the ORIGINAL teacher (image phase: fresh; video phase: re-initialised),
        // never of the generator. A CD student far from the teacher tells the two apart in the phases' checkpoints:
        // after one update of lr 5e-6 (RMSprop moves a weight by at most lr / sqrt(1 - alpha) ~ 1.6e-5) D's backbone is
        // still the teacher's, and nowhere near the student's.
        using var tmp = TestPaths.Temp();
        var cfg = TinyConfig(tmp.Path);
        using (var g = new Generator(77))
        using (var other = new WanModel(Tiny, generator: g))
        {
            using (torch.no_grad()) other.head.head.weight.normal_(0, 0.05);
            Safetensors.Save(cfg.Apt.Student, other.state_dict());
        }
        cfg.Apt.Image = cfg.Apt.Image with { Updates = 1, Accumulation = 1, CheckpointEvery = 1 };
        cfg.Apt.Video = cfg.Apt.Video with { Updates = 1, CheckpointEvery = 1 };
        var run = ExperimentKinds.Launch(cfg, null, "disc", TextWriter.Null);

        using var teacher = Checkpoint.Load(Path.Combine(tmp.Path, "wan", "diffusion_pytorch_model.safetensors"));
        using var student = Checkpoint.Load(cfg.Apt.Student);
        Assert.True(Diff(student, teacher) > 0.1);
        foreach (var phase in new[] { "apt_image", "apt_video" })
        {
            using var ck = Checkpoint.Load(AptLab.Training.Checkpoints.PathFor(run.Checkpoints, phase, 1));
            double toTeacher = 0, toStudent = 0;
            foreach (var k in teacher.Keys)
            {
                var dk = ck["discriminator.backbone." + k];
                toTeacher = Math.Max(toTeacher, (dk - teacher[k]).abs().max().item<double>());
                toStudent = Math.Max(toStudent, (dk - student[k]).abs().max().item<double>());
            }
            Assert.True(toTeacher < 1e-4, $"{phase}: D's backbone is {toTeacher:E2} from the teacher");
            Assert.True(toStudent > 0.1, $"{phase}: D's backbone is {toStudent:E2} from the CD student");
        }
    }

    private static double Diff(StateDict a, StateDict b) => a.Keys.Max(k => (a[k] - b[k]).abs().max().item<double>());

    private static string WriteNegative(string root, long textDim, long tokens = 3)
    {
        var file = Path.Combine(root, "negative.safetensors");
        using var g = new Generator(5);
        Safetensors.Save(file, new Dictionary<string, Tensor> { ["context"] = torch.randn([tokens, textDim], generator: g) });
        return file;
    }

    /// <summary>The tiny config without apt.student: CD (4 steps of 2, N 4) from the negative-context file first.</summary>
    private static ExperimentConfig DistillingConfig(string root)
    {
        var cfg = TinyConfig(root);
        cfg.Apt.Student = "";
        (cfg.Wan!.NegativeContext, cfg.Wan.TextEncoderPath) = (WriteNegative(root, Tiny.TextDim), "");
        (cfg.Distill.Steps, cfg.Distill.Batch, cfg.Distill.Lr, cfg.Distill.N, cfg.Distill.Shift, cfg.Distill.Guidance) = (4, 2, 1e-3, 4, 3.0, 3.0);
        return cfg;
    }

    [Fact]
    public void Apt_kind_without_a_student_distils_the_teacher_first_and_a_resumed_run_skips_it()
    {
        using var tmp = TestPaths.Temp();
        var cfg = DistillingConfig(tmp.Path);
        var log = new StringWriter();
        var run = ExperimentKinds.Launch(cfg, null, "cd", log);
        var text = log.ToString();
        Assert.Contains("negative prompt: 3 tokens from", text);
        Assert.Contains("6 images and 4 clips alternating", text);
        Assert.Contains("[distill] done in", text);

        var m = MetricsCsv.Read(run.MetricsCsv);
        var cdLoss = m.Series("cd/loss").Values;
        Assert.Equal(4, cdLoss.Length);
        Assert.All(cdLoss, x => Assert.True(double.IsFinite(x) && x > 0, $"cd/loss {x}"));
        foreach (var (phase, updates) in new[] { ("apt_image", 3), ("apt_video", 2) })
            Assert.All(new[] { "loss_d", "loss_g", "r1" }, tag =>
            {
                var values = m.Series($"{phase}/{tag}").Values;
                Assert.Equal(updates, values.Length);
                Assert.All(values, x => Assert.True(double.IsFinite(x), $"{phase}/{tag}"));
            });

        // cd.safetensors: the teacher's keys, moved by CD; the phases start from it and move on.
        using var teacher = Checkpoint.Load(Path.Combine(tmp.Path, "wan", "diffusion_pytorch_model.safetensors"));
        var cdFile = Path.Combine(run.Checkpoints, "cd.safetensors");
        using var cd = Checkpoint.Load(cdFile);
        Assert.Equal(teacher.Keys.Order(), cd.Keys.Order());
        Assert.True(Diff(cd, teacher) > 1e-4, "CD left the teacher's weights unchanged");
        using var image = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_image_ema.safetensors"));
        using var video = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_video_ema.safetensors"));
        Assert.True(Diff(image, cd) > 0);
        Assert.True(Diff(video, image) > 0);

        // Resumed without the phases' products: CD is not run again (its student is read back), and the image phase
        // from that student reproduces the first run's EMA.
        var cdWritten = File.GetLastWriteTimeUtc(cdFile);
        foreach (var f in Directory.GetFiles(run.Checkpoints, "apt_*")) File.Delete(f);
        var log2 = new StringWriter();
        ExperimentKinds.Launch(cfg, run.Root, null, log2);
        var text2 = log2.ToString();
        Assert.Contains($"CD student from {cdFile}", text2);
        Assert.DoesNotContain("[distill] done in", text2);
        Assert.Contains("[apt_image] done in", text2);
        Assert.Equal(4, MetricsCsv.Read(run.MetricsCsv).Series("cd/loss").Values.Length);
        Assert.Equal(cdWritten, File.GetLastWriteTimeUtc(cdFile));
        using var image2 = Checkpoint.Load(Path.Combine(run.Checkpoints, "apt_image_ema.safetensors"));
        Assert.True(Diff(image2, image) < 1e-5, $"image EMA after resume differs by {Diff(image2, image)}");
    }

    [Fact]
    public void Distilling_needs_a_negative_of_the_dits_text_width()
    {
        var yaml = File.ReadAllText(Path.Combine(TestPaths.Repo, "configs", "apt-wan2.1-t2v-1.3b.yaml"));
        var none = yaml.Replace("  text_encoder_path:", "  # text_encoder_path:");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>(none, "x.yaml"));
        Assert.Contains("'wan.negative_context'", e.Message);
        Assert.Equal("cd.safetensors", ConfigLoader.Parse<ExperimentConfig>(none.Replace("student: \"\"", "student: cd.safetensors"), "x.yaml").Apt.Student);

        using var tmp = TestPaths.Temp();
        var cfg = DistillingConfig(tmp.Path);
        cfg.Wan!.NegativeContext = WriteNegative(tmp.Path, Tiny.TextDim + 1);
        var bad = Assert.Throws<InvalidDataException>(() => ExperimentKinds.Launch(cfg, null, "bad", TextWriter.Null));
        Assert.Contains("negative.safetensors", bad.Message);
        Assert.Contains($"text_dim is {Tiny.TextDim}", bad.Message);
    }

    [Fact]
    public void A_cache_of_the_wrong_resolution_names_the_file_and_key()
    {
        using var tmp = TestPaths.Temp();
        var cfg = TinyConfig(tmp.Path);
        cfg.Wan!.ImageSize = "64x32";
        var e = Assert.Throws<InvalidDataException>(() => ExperimentKinds.Launch(cfg, null, "bad", TextWriter.Null));
        Assert.Contains("wan.image_data", e.Message);
        Assert.Contains("[16, 1, 4, 4]", e.Message);
        Assert.Contains("[16, 1, 4, 8]", e.Message);
        Assert.Contains(".safetensors", e.Message);
    }
}
