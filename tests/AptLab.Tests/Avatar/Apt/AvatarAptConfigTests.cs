using AptLab.Apt;
using AptLab.Config;
using AptLab.Data;
using AptLab.Experiments;
using AptLab.Avatar.Apt;

namespace AptLab.Tests.Avatar.Apt;

/// <summary>configs/apt-omniavatar-1.3b.yaml, the models it builds (on the meta device) and the LatentCache batches.</summary>
public class AvatarAptConfigTests
{
    private static string ConfigPath => Path.Combine(TestPaths.Repo, "configs", "apt-omniavatar-1.3b.yaml");

    [Fact]
    public void Config_loads_with_apt_settings_adapted_to_omniavatar()
    {
        var cfg = ConfigLoader.Load<ExperimentConfig>(ConfigPath);
        Assert.Equal("apt-omniavatar", cfg.Experiment);
        var oa = cfg.Omniavatar!;
        Assert.Equal("omniavatar-1.3b", oa.Model.Preset);
        Assert.EndsWith("Wan2.1-T2V-1.3B/diffusion_pytorch_model.safetensors", oa.Model.DitPath);
        Assert.EndsWith("OmniAvatar-1.3B", oa.Model.ExpPath);
        Assert.Equal((32, 5.0, 4.5), (cfg.Distill.N, cfg.Distill.Shift, cfg.Distill.Guidance));
        Assert.Equal((5e-6, 1.0, 0.01, 350), (cfg.Apt.Image.LrGenerator, cfg.Apt.Image.DiscriminatorShift, cfg.Apt.Image.R1Sigma, cfg.Apt.Image.Updates));
        Assert.Equal((3e-6, 12.0, 0.1, 300), (cfg.Apt.Video.LrDiscriminator, cfg.Apt.Video.DiscriminatorShift, cfg.Apt.Video.R1Sigma, cfg.Apt.Video.Updates));
        Assert.Equal(R1NoiseReading.Variance, cfg.Apt.Video.R1Reading);
        Assert.Equal(13, oa.Data.VideoLatentFrames);
        Assert.Equal((1024, 1024), (cfg.Apt.EffectiveBatch(cfg.Apt.Image), cfg.Apt.EffectiveBatch(cfg.Apt.Video)));
    }

    [Fact]
    public void Bad_head_layer_is_an_error_naming_the_key()
    {
        var yaml = File.ReadAllText(ConfigPath).Replace("head_layers: [12, 21, 29]", "head_layers: [12, 21, 30]");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>(yaml, "x.yaml"));
        Assert.Contains("apt.head_layers", e.Message);
        var noSection = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>("experiment: apt-omniavatar", "y.yaml"));
        Assert.Contains("omniavatar", noSection.Message);
        var noText = File.ReadAllText(ConfigPath).Replace("text_encoder_path:", "# text_encoder_path:");
        e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<ExperimentConfig>(noText, "z.yaml"));
        Assert.Contains("omniavatar.data.text_encoder_path", e.Message);
    }

    [Fact]
    public void Builds_teacher_student_and_discriminator_on_the_meta_device()
    {
        var cfg = ConfigLoader.Load<ExperimentConfig>(ConfigPath);
        using var models = AvatarAptModels.Build(cfg.Omniavatar!, Device.Meta, cfg.Apt.HeadLayers);
        const long d = 1536, ffn = 8960, heads = 12, layers = 30;
        // Wan2.1-T2V-1.3B has 1,418,996,800 parameters (WanDiTStateDictTests); OmniAvatar adds 17 input channels to the
        // patch embedding, AudioPack (Linear 4 x 10752 -> 32, LayerNorm 32) and 14 Linear(32 -> 1536).
        long omni = 1_418_996_800L + 17 * d * 4 + (4 * 10752 * 32 + 32) + 2 * 32 + 14 * (32 * d + d);
        Assert.Equal(1_421_187_232L, omni);
        Assert.Equal(omni, Count(models.Teacher.Module));            // LoRA merged and removed
        Assert.Equal(omni, Count(models.Student.Module));
        Assert.DoesNotContain(models.Teacher.Module.state_dict().Keys, k => k.Contains("lora_"));
        // one head: query, 2 RMSNorm(dim), q k v o, 2 RMSNorm(head_dim), LayerNorm(dim), MLP dim -> 4 dim -> dim
        long head = d + 2 * d + 4 * (d * d + d) + 2 * (d / heads) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d);
        long readout = 3 * head + 2 * 3 * d + (3 * d + 1);
        Assert.Equal(omni + readout, Count(models.Discriminator));
        Assert.Equal(new[] { 12, 21, 29 }, models.Discriminator.Layers);
        Assert.Equal((int)layers, models.Discriminator.Backbone.NumLayers);
        Assert.Equal(ffn, ((OmniAvatarFlowModel)models.Discriminator.Backbone).Net.wanConfig.FfnDim);
        Assert.All(models.Discriminator.parameters(), p => Assert.Equal(DeviceType.Meta, p.device.Type));
        Assert.All(models.Discriminator.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.All(models.Student.Module.parameters(), p => Assert.True(p.requires_grad));
        Assert.All(models.Teacher.Module.parameters(), p => Assert.False(p.requires_grad));
        Assert.True(models.Student.Net.GradientCheckpointing);
    }

    private static long Count(Torch.nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void Latent_cache_samples_become_omniavatar_batches()
    {
        using var _ = torch.NewScope();
        using var dir = TestPaths.Temp();
        var cache = LatentCache.Open(dir.Path);
        using var g = new Generator(1);
        var samples = new[] { (lt: 5L, frames: 3L), (lt: 3L, frames: 4L) };
        var stored = new List<Dictionary<string, Tensor>>();
        for (int i = 0; i < samples.Length; i++)
        {
            var t = new Dictionary<string, Tensor>
            {
                ["latents"] = torch.randn([16, samples[i].frames, 4, 6], generator: g),
                ["ref_latents"] = torch.randn([16, 1, 4, 6], generator: g),
                ["audio"] = torch.randn([4 * samples[i].frames - 3, 24], generator: g),
                ["context"] = torch.randn([samples[i].lt, 12], generator: g),
            };
            cache.Add($"s{i}", "a person talking", t);
            stored.Add(t);
        }
        var b = AvatarAptData.Batch(LatentCache.Open(dir.Path), [0, 1], latentFrames: 3, knownFrames: 1);
        Assert.Equal(new long[] { 2, 16, 3, 4, 6 }, b.Latents.shape);
        Assert.Equal(new long[] { 2, 17, 3, 4, 6 }, b.Condition.Y!.shape);
        Assert.Equal(new long[] { 2, 9, 24 }, b.Condition.Audio!.shape);
        Assert.Equal(new long[] { 2, 5, 12 }, b.Condition.Context.shape);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(stored[i]["latents"].narrow(1, 0, 3).contiguous().data<float>(), b.Latents[i].contiguous().data<float>());
            for (int f = 0; f < 3; f++)
                Assert.Equal(stored[i]["ref_latents"].select(1, 0).contiguous().data<float>(), b.Condition.Y[i].narrow(0, 0, 16).select(1, f).contiguous().data<float>());
            var mask = b.Condition.Y[i].select(0, 16);                                     // [F, h, w]
            Assert.Equal(0f, mask.select(0, 0).abs().max().item<float>());
            Assert.Equal(1f, mask.narrow(0, 1, 2).min().item<float>());
            Assert.Equal(stored[i]["audio"].narrow(0, 0, 9).contiguous().data<float>(), b.Condition.Audio[i].contiguous().data<float>());
        }
        Assert.Equal(0f, b.Condition.Context[1].narrow(0, 3, 2).abs().max().item<float>());   // padded rows
        var image = AvatarAptData.Batch(LatentCache.Open(dir.Path), [1], latentFrames: 1, knownFrames: 0);
        Assert.Equal(new long[] { 1, 1, 24 }, image.Condition.Audio!.shape);
        Assert.Equal(1f, image.Condition.Y!.select(1, 16).min().item<float>());
        var e = Assert.Throws<InvalidDataException>(() => AvatarAptData.Batch(LatentCache.Open(dir.Path), [0], latentFrames: 4, knownFrames: 1));
        Assert.Contains("\"latents\" has 3 latent frames", e.Message);
    }
}
