using AptLab.Wan.Text;
using AptLab.Wan.Pipelines;
using static AptLab.Tests.Wan.Pipelines.PipelineTestUtil;

namespace AptLab.Tests.Wan.Pipelines;

/// <summary>The I2V pipeline (docs/wan-dit.md#pipelines): latent size from the area and the image's aspect, the first-frame
/// mask, y = [mask | VAE latent of the image clip], and the CFG loop with clip_fea and y in both passes.</summary>
public sealed class WanI2VPipelineTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewScope();
    private readonly WanI2VPipeline pipe;

    public WanI2VPipelineTests()
    {
        var (dit, vae, text) = Tiny(i2v: true);
        pipe = new WanI2VPipeline(dit, vae, text, ownsModels: true);
    }

    public void Dispose()
    {
        pipe.Dispose();
        scope.Dispose();
    }

    // Values of the official float arithmetic (Python: round(sqrt(area * h/w) // 8 // 2 * 2)). For a 480×832 image at
    // 480p, 399360·(480/832) = 230399.99999999997 in float64, so sqrt gives 479.99999999999994 and lat_h = 58, not the
    // 60 a worked example in the literature states; the official code computes the same 58.
    [Theory]
    [InlineData(832L * 480, 480, 832, 58, 104)]
    [InlineData(1280L * 720, 720, 1280, 90, 160)]
    [InlineData(832L * 480, 832, 480, 104, 60)]      // portrait
    [InlineData(832L * 480, 600, 800, 68, 90)]       // 4:3: √(399360·0.75) = 547.3 → 68 → 34 → 68; √(399360/0.75) = 729.7 → 91 → 45 → 90
    public void Latent_size_follows_the_image_aspect_within_the_area(long area, int h0, int w0, int latH, int latW)
    {
        Assert.Equal((latH, latW), pipe.LatentSize(area, h0, w0));
    }

    [Fact]
    public void First_frame_mask_is_one_at_latent_frame_zero_only()
    {
        var m = WanI2VPipeline.FirstFrameMask(81, 3, 5);
        Assert.Equal(new long[] { 4, 21, 3, 5 }, m.shape);
        Assert.Equal(4.0 * 3 * 5, m.narrow(1, 0, 1).sum().item<float>());
        Assert.Equal(1f, m.narrow(1, 0, 1).min().item<float>());
        Assert.Equal(0f, m.narrow(1, 1, 20).abs().max().item<float>());
    }

    [Theory]
    [InlineData(WanSamplerKind.UniPC)]
    [InlineData(WanSamplerKind.Euler)]
    public void Generate_reproduces_the_hand_rolled_i2v_loop_exactly(WanSamplerKind kind)
    {
        using var g = new Generator(5);
        var image = torch.rand([3, 40, 60], ScalarType.Float32, Device.CPU, g) * 2.0 - 1.0;   // [3, h0, w0], aspect 2:3
        var clipFea = torch.randn([1, 5, pipe.Dit.config.ClipDim], ScalarType.Float32, Device.CPU, g);
        var s = new WanSampleSettings { Prompt = "a cat", Frames = 5, Height = 32, Width = 48, Steps = 2, Shift = 3, Guide = 5, Seed = 2, Sampler = kind };
        using var result = pipe.Generate(s, image, clipFea);

        using var _ = torch.no_grad();
        // area 32·48 with aspect 40/60: √(1536·2/3) = 32 → lat 4, √(1536·1.5) = 48 → lat 6
        var resized = F.interpolate(image.unsqueeze(0), [32L, 48L], F.InterpolateMode.Bicubic);   // [1, 3, 32, 48]
        var clip = torch.cat([resized.unsqueeze(2), torch.zeros([1, 3, 4, 32, 48])], 2);               // [1, 3, 5, 32, 48]
        var latent = pipe.Vae.encode(clip).squeeze(0);                                                   // [16, 2, 4, 6]
        var mask = torch.zeros([4, 2, 4, 6]);
        mask.narrow(1, 0, 1).fill_(1.0);
        var y = torch.cat([mask, latent], 0).unsqueeze(0);                                                // [1, 20, 2, 4, 6]
        var ctx = pipe.TextEncoder.Encode(["a cat"])[0].unsqueeze(0);
        var ctxNull = pipe.TextEncoder.Encode([WanNegativePrompts.ImageToVideo])[0].unsqueeze(0);
        using var gn = new Generator(2);
        var x = torch.randn([16, 2, 4, 6], ScalarType.Float32, Device.CPU, gn);
        var sampler = s.CreateSampler();
        for (int k = 0; k < s.Steps; k++)
        {
            var t = torch.tensor(new[] { sampler.ModelTimestep(k) });
            var vc = pipe.Dit.forward(x.unsqueeze(0), t, ctx, clipFea, y).squeeze(0);
            var vu = pipe.Dit.forward(x.unsqueeze(0), t, ctxNull, clipFea, y).squeeze(0);
            x = sampler.Step(vu + (vc - vu) * s.Guide, k, x);
        }
        sampler.Reset();
        Assert.Equal(0.0, MaxAbsDiff(result.Latent, x));
        Assert.Equal(new long[] { 3, 5, 32, 48 }, result.Video.shape);

        // the image conditioning matters: other CLIP features give another sample
        using var other = pipe.Generate(s, image, torch.randn([1, 5, pipe.Dit.config.ClipDim], ScalarType.Float32, Device.CPU, g));
        Assert.True(MaxAbsDiff(other.Latent, x) > 1e-3);
    }

    [Fact]
    public void Bad_clip_features_and_images_are_one_clear_error()
    {
        var image = torch.zeros([3, 32, 48]);
        var s = new WanSampleSettings { Prompt = "x", Frames = 5, Height = 32, Width = 48, Steps = 1 };
        var e = Assert.Throws<ArgumentException>(() => pipe.Generate(s, image, torch.zeros([1, 5, 7])));
        Assert.Contains("clip_fea", e.Message);
        e = Assert.Throws<ArgumentException>(() => pipe.Generate(s, torch.zeros([32, 48]), torch.zeros([1, 5, pipe.Dit.config.ClipDim])));
        Assert.Contains("image must be [3, H, W]", e.Message);
    }
}
