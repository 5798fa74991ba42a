using AptLab.Config;
using AptLab.Wan.Pipelines;

namespace AptLab.Tests.Wan.Pipelines;

/// <summary>The sample configs of configs/ parse, name the official files, and resolve to the official defaults;
/// bad values name their key.</summary>
public class SampleConfigTests
{
    private static SampleConfig Load(string name) => ConfigLoader.Load<SampleConfig>(Path.Combine(TestPaths.Repo, "configs", name));

    [Theory]
    [InlineData("sample-wan2.1-t2v-1.3b.yaml", "Wan2.1-T2V-1.3B", "diffusion_pytorch_model.safetensors", 832, 480)]
    [InlineData("sample-wan2.1-t2v-14b.yaml", "Wan2.1-T2V-14B", "diffusion_pytorch_model.safetensors.index.json", 1280, 720)]
    public void Release_configs_name_the_official_files(string file, string folder, string dit, int width, int height)
    {
        var c = Load(file);
        Assert.Equal("checkpoint", c.Model);
        Assert.False(c.IsI2V);
        Assert.Equal($"checkpoints/{folder}/{dit}", c.Dit);
        Assert.Equal($"checkpoints/{folder}/Wan2.1_VAE.pth", c.Vae);
        Assert.Equal($"checkpoints/{folder}/models_t5_umt5-xxl-enc-bf16.pth", c.T5);
        Assert.Equal($"checkpoints/{folder}/google/umt5-xxl/spiece.model", c.Tokenizer);
        Assert.Equal(ScalarType.BFloat16, c.ModelDtype());
        var s = new SampleOverrides("a cat").Resolve(c).Validate();
        Assert.Equal((50, 5.0, 5.0, 81, width, height, WanSamplerKind.UniPC), (s.Steps, s.Shift, s.Guide, s.Frames, s.Width, s.Height, s.Sampler));
        Assert.Null(s.NegativePrompt);   // the pipeline's official default
    }

    [Fact]
    public void Tiny_config_and_command_line_overrides()
    {
        var c = Load("sample-tiny.yaml");
        Assert.True(c.IsTiny);
        Assert.Equal("configs/demo/spiece.model", c.Tokenizer);
        var s = new SampleOverrides("a cat").Resolve(c);
        Assert.Equal((4, 9, 48, 32, 0UL), (s.Steps, s.Frames, s.Width, s.Height, s.Seed));
        var o = new SampleOverrides("a cat", NegativePrompt: "", Steps: 7, Guide: 2.5, Seed: 9, Frames: 13, Size: "64x16", Sampler: "euler", Shift: 3).Resolve(c);
        Assert.Equal((7, 2.5, 9UL, 13, 64, 16, WanSamplerKind.Euler, 3.0, ""), (o.Steps, o.Guide, o.Seed, o.Frames, o.Width, o.Height, o.Sampler, o.Shift, o.NegativePrompt));
    }

    [Fact]
    public void I2V_defaults_follow_the_official_table()
    {
        var c = ConfigLoader.Parse<SampleConfig>("model: tiny\ntask: i2v\n");
        var s480 = new SampleOverrides("x").Resolve(c);
        Assert.Equal((40, 3.0), (s480.Steps, s480.Shift));
        var s720 = new SampleOverrides("x", Size: "1280x720").Resolve(c);
        Assert.Equal((40, 5.0), (s720.Steps, s720.Shift));
    }

    [Theory]
    [InlineData("model: big\n", "'model'")]
    [InlineData("model: checkpoint\ndit: a.safetensors\nt5: t.pth\ntokenizer: s.model\n", "'vae'")]
    [InlineData("model: tiny\ntask: v2v\n", "'task'")]
    [InlineData("model: tiny\nsample: {sampler: ddim}\n", "'sample.sampler'")]
    [InlineData("model: tiny\nsample: {frames: 8}\n", "'sample.frames'")]
    [InlineData("model: tiny\nsample: {size: 832}\n", "'sample.size'")]
    [InlineData("model: tiny\ndtype: fp8\n", "'dtype'")]
    [InlineData("model: tiny\ntiny: {dim: 64, num_heads: 3}\n", "'tiny.num_heads'")]
    [InlineData("model: tiny\nsteps: 3\n", "unknown key 'steps'")]
    public void Bad_configs_name_the_key(string yaml, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<SampleConfig>(yaml, "s.yaml"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("s.yaml", e.Message);
    }

    [Fact]
    public void Missing_model_files_name_the_key_and_path()
    {
        using var dir = TestPaths.Temp();
        var c = ConfigLoader.Parse<SampleConfig>(
            $"model: checkpoint\ndit: {dir.File("dit.safetensors")}\nvae: {dir.File("vae.pth")}\nt5: {dir.File("t5.pth")}\ntokenizer: {dir.File("spiece.model")}\n");
        var e = Assert.Throws<FileNotFoundException>(() => WanSampleModels.Load(c));
        Assert.Contains("'dit'", e.Message);
        Assert.Contains(dir.File("dit.safetensors"), e.Message);
        File.WriteAllText(dir.File("dit.safetensors"), "");
        e = Assert.Throws<FileNotFoundException>(() => WanSampleModels.Load(c));
        Assert.Contains("'vae'", e.Message);
    }
}
