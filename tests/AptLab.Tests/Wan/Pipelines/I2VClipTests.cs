using AptLab.Config;
using AptLab.Data.Media;
using AptLab.Wan.Pipelines;
using static AptLab.Tests.Wan.Pipelines.PipelineTestUtil;

namespace AptLab.Tests.Wan.Pipelines;

/// <summary>
/// Image-to-video with the CLIP features computed inside AptLab (docs/wan-clip.md): in the pipeline and through
/// `aptlab sample --image` on configs/sample-tiny-i2v.yaml. The features computed inside and the same features read
/// back from a file give bit-identical samples, and the features do condition the sample.
/// </summary>
public class I2VClipTests
{
    private const string TinyI2V = "configs/sample-tiny-i2v.yaml";

    private static RgbImage Portrait()
    {
        var image = new RgbImage(40, 60);                                       // h/w = 1.5
        for (int y = 0; y < 60; y++) for (int x = 0; x < 40; x++) image.SetPixel(x, y, (byte)(6 * x), (byte)(4 * y), (byte)(128 + x - y));
        return image;
    }

    [Fact]
    public void Pipeline_features_computed_inside_equal_the_features_from_a_file_bit_for_bit_and_condition_the_sample()
    {
        using var scope = torch.NewScope();
        using var dir = TestPaths.Temp();
        var t = new TinyModelConfig { Seed = 3, TextLen = 16 };
        var (dit, vae, text) = TinyWan.Build(t, i2v: true, Tokenizer);
        using var pipe = new WanI2VPipeline(dit, vae, text, ownsModels: true, clip: TinyWan.BuildClip(t));
        var image = WanI2VPipeline.ImageTensor(Portrait());                     // [3, 60, 40] in [-1, 1]
        var s = new WanSampleSettings { Prompt = "a cat", Frames = 5, Height = 32, Width = 48, Steps = 2, Shift = 3, Guide = 5, Seed = 4 };

        var fea = pipe.EncodeImage(image);                                      // [1, tokens, clip_dim]
        var c = pipe.Clip!.Config;
        Assert.Equal(new long[] { 1, c.NumTokens, pipe.Dit.config.ClipDim }, fea.shape);
        ClipFeatures.Save(dir.File("clip_fea.safetensors"), fea);

        using var inside = pipe.Generate(s, image);                            // the pipeline encodes the image itself
        using var fromFile = pipe.Generate(s, image, ClipFeatures.Load(dir.File("clip_fea.safetensors")));
        Assert.Equal(0.0, MaxAbsDiff(inside.Latent, fromFile.Latent));
        Assert.Equal(0.0, MaxAbsDiff(inside.Video, fromFile.Video));

        using var zeroed = pipe.Generate(s, image, torch.zeros_like(fea));
        Assert.True(MaxAbsDiff(inside.Latent, zeroed.Latent) > 1e-3, "the CLIP features do not change the sample");

        // Without an encoder the pipeline asks for the features instead of guessing.
        var (dit2, vae2, text2) = TinyWan.Build(t, i2v: true, Tokenizer);
        using var bare = new WanI2VPipeline(dit2, vae2, text2, ownsModels: true);
        var e = Assert.Throws<InvalidOperationException>(() => bare.Generate(s, image));
        Assert.Contains("pass the CLIP features", e.Message);
    }

    [Fact]
    public void Cli_encodes_the_image_itself_and_a_rerun_with_the_saved_features_gives_the_same_video()
    {
        Assert.True(Ffmpeg.IsAvailable, "ffmpeg/ffprobe not found: install the Debian package ffmpeg (make deps)");
        using var dir = TestPaths.Temp();
        Png.Write(dir.File("first.png"), Portrait());
        string[] common = ["--config", TinyI2V, "--prompt", "a cat", "--image", dir.File("first.png"), "--frames", "5", "--steps", "2", "--seed", "7"];

        var (code, stdout, stderr) = SampleCommandTests.Aptlab([.. common, "--out", dir.File("inside")]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("clip: encoding the image", stderr);
        var mp4 = Path.Combine(dir.File("inside"), "sample.mp4");
        var info = Ffmpeg.Probe(mp4);
        // area 48·32 (the config's size) with h/w = 1.5: lat_h = 2⌊⌊√2304/8⌋/2⌋ = 6, lat_w = 2⌊⌊√1024/8⌋/2⌋ = 4 → 32 × 48
        Assert.Equal((32, 48), (info.Video!.Width, info.Video.Height));
        var inside = Ffmpeg.ReadVideo(mp4);
        Assert.Equal(5, inside.Frames.Count);

        // The features the CLI computed are the encoder's, bit for bit: the library encodes the same image file.
        var cfg = ConfigLoader.Load<SampleConfig>(Path.Combine(TestPaths.Repo, TinyI2V));
        using (var scope = torch.NewScope())
        using (var clip = WanSampleModels.LoadClip(cfg))
        {
            var fea = clip.Encode(WanI2VPipeline.ImageTensor(Ffmpeg.ReadImage(dir.File("first.png"))));
            Assert.Equal(0.0, MaxAbsDiff(ClipFeatures.Load(Path.Combine(dir.File("inside"), "clip_fea.safetensors")), fea));
            ClipFeatures.Save(dir.File("library_fea.safetensors"), fea);
        }

        (code, _, stderr) = SampleCommandTests.Aptlab([.. common, "--clip-features", dir.File("library_fea.safetensors"), "--out", dir.File("file")]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.DoesNotContain("clip: encoding", stderr);
        Assert.False(File.Exists(Path.Combine(dir.File("file"), "clip_fea.safetensors")));
        var fromFile = Ffmpeg.ReadVideo(Path.Combine(dir.File("file"), "sample.mp4"));
        Assert.Equal(inside.Frames.Count, fromFile.Frames.Count);
        for (int i = 0; i < inside.Frames.Count; i++)
            Assert.True(inside.Frames[i].Pixels.AsSpan().SequenceEqual(fromFile.Frames[i].Pixels), $"decoded frame {i} differs");
    }

    [Fact]
    public void Image_files_convert_to_the_official_pipelines_values_bit_for_bit()
    {
        // The wan_clip case's img is to_tensor(uint8 image).sub_(0.5).div_(0.5): recover the bytes, convert them back.
        using var scope = torch.NewScope();
        using var io = AptLab.Torch.IO.Checkpoint.Load(TestPaths.ReferenceFile("wan_clip.io.safetensors"));
        var img = io["img"];                                                    // [3, H, W]
        int h = (int)img.size(1), w = (int)img.size(2);
        var bytes = ((img * 0.5 + 0.5) * 255).round().to(ScalarType.UInt8).permute(1, 2, 0).contiguous().data<byte>();   // [H, W, 3]
        var image = new RgbImage(w, h, 3, bytes);
        Assert.Equal(0.0, MaxAbsDiff(WanI2VPipeline.ImageTensor(image), img));
    }

    [Theory]
    [InlineData("sample-wan2.1-i2v-14b.yaml", "Wan2.1-I2V-14B-480P", 832, 480, 3.0)]
    [InlineData("sample-wan2.1-i2v-14b-720p.yaml", "Wan2.1-I2V-14B-720P", 1280, 720, 5.0)]
    public void I2V_release_configs_name_the_official_files_and_defaults(string file, string folder, int width, int height, double shift)
    {
        var c = ConfigLoader.Load<SampleConfig>(Path.Combine(TestPaths.Repo, "configs", file));
        Assert.True(c.IsI2V);
        Assert.False(c.IsTiny);
        Assert.Equal($"checkpoints/{folder}/diffusion_pytorch_model.safetensors.index.json", c.Dit);
        Assert.Equal($"checkpoints/{folder}/Wan2.1_VAE.pth", c.Vae);
        Assert.Equal($"checkpoints/{folder}/models_t5_umt5-xxl-enc-bf16.pth", c.T5);
        Assert.Equal($"checkpoints/{folder}/google/umt5-xxl/spiece.model", c.Tokenizer);
        Assert.Equal($"checkpoints/{folder}/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth", c.Clip);
        Assert.Equal(ScalarType.BFloat16, c.ModelDtype());
        var s = new SampleOverrides("a cat").Resolve(c).Validate();
        Assert.Equal((40, shift, 5.0, 81, width, height, WanSamplerKind.UniPC), (s.Steps, s.Shift, s.Guide, s.Frames, s.Width, s.Height, s.Sampler));
    }

    [Theory]
    [InlineData("model: tiny\ntask: t2v\nclip: c.pth\n", "'clip'")]
    [InlineData("model: tiny\ntask: i2v\ntiny: {clip_dim: 33}\n", "'tiny.clip_dim'")]
    public void Bad_i2v_configs_name_the_key(string yaml, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse<SampleConfig>(yaml, "s.yaml"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void I2V_input_errors_are_one_clear_line()
    {
        using var dir = TestPaths.Temp();
        Png.Write(dir.File("first.png"), Portrait());
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--config", TinyI2V, "--prompt", "x"], "needs --image"),
            (["--config", TinyI2V, "--prompt", "x", "--image", dir.File("first.png"), "--clip-features", dir.File("none.safetensors")], "--clip-features: file not found"),
            (["--config", "configs/sample-wan2.1-i2v-14b.yaml", "--prompt", "x", "--image", dir.File("first.png")], "config 'clip': file not found"),
        })
        {
            var (code, _, stderr) = SampleCommandTests.Aptlab(args);
            Assert.Equal(2, code);
            var error = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: "));
            Assert.Contains(expected, error);
            Assert.DoesNotContain("   at ", stderr);
        }
    }
}
