using AptLab.Wan.Vae;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.Vae.VaeTestUtil;

namespace AptLab.Tests.Wan.Vae;

/// <summary>Streaming (feature cache) against the whole-sequence formulation, causality, validation, memory.
/// Tiny VAE (dim 8) with random weights, 16×24 pixels.</summary>
public sealed class WanVaeStreamingTests(ITestOutputHelper output)
{
    private static WanVAE Tiny(ulong seed = 7)
    {
        var vae = new WanVAE(WanVaeConfig.Tiny);
        Randomize(vae, seed);
        vae.eval();
        return vae;
    }

    private static Tensor Video(long t, ulong seed = 11)
    {
        using var g = new Generator(seed);
        return torch.rand([1, 3, t, 16, 24], generator: g) * 2 - 1;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(9)]
    [InlineData(17)]
    public void Streaming_encode_equals_whole_sequence_encode(int frames)
    {
        using var vae = Tiny();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var video = Video(frames);
        var (mu, logVar) = vae.encode_moments(video);
        Assert.Equal(new long[] { 1, 16, 1 + (frames - 1) / 4, 2, 3 }, mu.shape);
        var (muW, logVarW) = vae.encode_whole_sequence(video);
        double e1 = RelErr(mu, muW), e2 = RelErr(logVar, logVarW);
        output.WriteLine($"T={frames}: mu {e1:E3}, log_var {e2:E3}");
        Assert.True(e1 < 1e-5 && e2 < 1e-5, $"{e1:E3} {e2:E3}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Streaming_decode_equals_whole_sequence_decode(int latentFrames)
    {
        using var vae = Tiny();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        using var g = new Generator(13);
        var z = torch.randn([1, 16, latentFrames, 2, 3], generator: g);
        var x = vae.decode(z, clamp: false);
        Assert.Equal(new long[] { 1, 3, 1 + 4 * (latentFrames - 1), 16, 24 }, x.shape);
        double e = RelErr(x, vae.decode_whole_sequence(z));
        output.WriteLine($"t={latentFrames}: decode {e:E3}");
        Assert.True(e < 1e-5, $"{e:E3}");
    }

    [Fact]
    public void Causality_first_chunk_alone_equals_the_first_frames_of_the_full_clip()
    {
        using var vae = Tiny();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        // Decode: latent frame 0 alone gives exactly frame 0 of the full decode.
        using var g = new Generator(17);
        var z = torch.randn([1, 16, 3, 2, 3], generator: g);
        var full = vae.decode(z, clamp: false);                    // [1, 3, 9, 16, 24]
        var first = vae.decode(z.slice(2, 0, 1), clamp: false);    // [1, 3, 1, 16, 24]
        double eDec = RelErr(first, full.slice(2, 0, 1));
        // Likewise the first 2 latents give the first 5 frames, and encoding frames 0..4 the first 2 latents.
        double eDec2 = RelErr(vae.decode(z.slice(2, 0, 2), clamp: false), full.slice(2, 0, 5));
        var video = Video(9);
        var zFull = vae.encode(video);
        double eEnc = RelErr(vae.encode(video.slice(2, 0, 5)), zFull.slice(2, 0, 2));
        output.WriteLine($"decode first frame {eDec:E3}, first 5 frames {eDec2:E3}; encode first 2 latents {eEnc:E3}");
        Assert.True(eDec < 1e-6 && eDec2 < 1e-6 && eEnc < 1e-6, $"{eDec:E3} {eDec2:E3} {eEnc:E3}");
        // The later frames do depend on the earlier ones (the cache carries real context).
        var alone = vae.decode(z.slice(2, 1, 2), clamp: false);     // latent 1 decoded as if it were first
        Assert.True(RelErr(alone, full.slice(2, 1, 2)) > 1e-2);
    }

    [Fact]
    public void Attention_scales_add_stage_attention_and_keep_streaming_exact()
    {
        // Not used by Wan 2.1 (the official streaming code would not even accept it), but part of the config.
        using var vae = new WanVAE(WanVaeConfig.Tiny with { AttnScales = [0.5] });
        Randomize(vae, 5);
        vae.eval();
        var keys = vae.state_dict().Keys.ToList();
        // Encoder stage 1 (scale 0.5): Res, Attn, Res, Attn, then the downsample.
        Assert.Contains("encoder.downsamples.4.to_qkv.weight", keys);
        Assert.Contains("encoder.downsamples.6.to_qkv.weight", keys);
        Assert.Contains("encoder.downsamples.7.time_conv.weight", keys);
        // Decoder stage 1 (scale 0.5): three (Res, Attn) pairs after the first stage's 3 Res + upsample.
        Assert.Contains("decoder.upsamples.5.to_qkv.weight", keys);
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var video = Video(5);
        double e = RelErr(vae.encode_moments(video).mu, vae.encode_whole_sequence(video).mu);
        var z = vae.encode(video);
        double d = RelErr(vae.decode(z, clamp: false), vae.decode_whole_sequence(z));
        Assert.True(e < 1e-5 && d < 1e-5, $"{e:E3} {d:E3}");
    }

    [Fact]
    public void Batch_of_two_equals_each_clip_alone()
    {
        using var vae = Tiny();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var a = Video(5, 21);
        var b = Video(5, 22);
        var z = vae.encode(torch.cat([a, b], 0));                   // [2, 16, 2, 2, 3]
        double ea = RelErr(z.slice(0, 0, 1), vae.encode(a)), eb = RelErr(z.slice(0, 1, 2), vae.encode(b));
        var x = vae.decode(z, clamp: false);                        // [2, 3, 5, 16, 24]
        double da = RelErr(x.slice(0, 0, 1), vae.decode(z.slice(0, 0, 1), clamp: false));
        double db = RelErr(x.slice(0, 1, 2), vae.decode(z.slice(0, 1, 2), clamp: false));
        output.WriteLine($"batch vs single: encode {ea:E3} {eb:E3}, decode {da:E3} {db:E3}");
        Assert.True(ea < 1e-5 && eb < 1e-5 && da < 1e-5 && db < 1e-5, $"{ea:E3} {eb:E3} {da:E3} {db:E3}");
        Assert.True(RelErr(z.slice(0, 0, 1), z.slice(0, 1, 2)) > 0.1);   // the two clips really differ
    }

    [Theory]
    [InlineData(8, 16, 24, "frame count T = 8")]
    [InlineData(2, 16, 24, "frame count T = 2")]
    [InlineData(5, 20, 24, "height H = 20")]
    [InlineData(5, 16, 36, "width W = 36")]
    public void Bad_video_shape_gives_one_clear_error(int t, int h, int w, string expected)
    {
        using var vae = Tiny();
        using var scope = torch.NewScope();
        var video = torch.zeros(1, 3, t, h, w);
        var e = Assert.Throws<ArgumentException>(() => vae.encode(video));
        Assert.Contains(expected, e.Message);
        Assert.Throws<ArgumentException>(() => vae.encode_whole_sequence(video));
    }

    [Fact]
    public void Bad_channel_counts_are_named()
    {
        using var vae = Tiny();
        using var scope = torch.NewScope();
        var e = Assert.Throws<ArgumentException>(() => vae.encode(torch.zeros(1, 4, 5, 16, 24)));
        Assert.Contains("[1, 4, 5, 16, 24]", e.Message);
        var d = Assert.Throws<ArgumentException>(() => vae.decode(torch.zeros(1, 8, 2, 2, 3)));
        Assert.Contains("[B, 16, t ≥ 1, h, w]", d.Message);
        Assert.Contains("[1, 8, 2, 2, 3]", d.Message);
    }

    [Fact]
    public void Config_validation_names_the_key()
    {
        var c = WanVaeConfig.Wan21;
        Assert.Contains("temperal_downsample", Assert.Throws<ArgumentException>(() =>
            (c with { TemporalDownsample = [false, true] }).Validate()).Message);
        Assert.Contains("WanVaeConfig.dim:", Assert.Throws<ArgumentException>(() => (c with { Dim = 0 }).Validate()).Message);
        Assert.Contains("num_res_blocks", Assert.Throws<ArgumentException>(() => (c with { NumResBlocks = 0 }).Validate()).Message);
        Assert.Contains("dim_mult", Assert.Throws<ArgumentException>(() => (c with { Dim = 3, DimMult = [1, 2], TemporalDownsample = [true] }).Validate()).Message);
        Assert.Contains("dropout", Assert.Throws<ArgumentException>(() => (c with { Dropout = 1.0 }).Validate()).Message);
        Assert.Contains("z_dim = 8", Assert.Throws<ArgumentException>(() => new WanVAE(WanVaeConfig.Tiny with { ZDim = 8 })).Message);
        Assert.Equal(4, c.TemporalFactor);
        Assert.Equal(8, c.SpatialFactor);
        Assert.Equal(new[] { true, true, false }, c.TemporalUpsample);
    }

    [Fact]
    public void Streaming_frees_every_cache_and_temporary()
    {
        using var vae = Tiny();
        using var ng = torch.no_grad();
        var video = Video(9);
        long before = TestPaths.SettledLiveTensors();
        using (torch.NewScope())
        {
            var z = vae.encode(video);
            vae.decode(z);
        }
        Assert.Equal(before, torch.live_tensors());
        // A longer clip leaves nothing behind either: the caches do not accumulate per chunk.
        var longer = Video(17);
        long before2 = TestPaths.SettledLiveTensors();
        Tensor x;
        using (var s = torch.NewScope()) x = s.Keep(vae.decode(vae.encode(longer)));
        Assert.Equal(before2 + 1, torch.live_tensors());
        x.Dispose();
        video.Dispose();
        longer.Dispose();
    }

    [Fact]
    public void Full_Wan21_config_has_the_official_keys_and_parameter_count()
    {
        using var vae = new WanVAE(WanVaeConfig.Wan21);
        var sd = vae.state_dict();
        Assert.Equal(194, sd.Count);
        Assert.Equal(126_892_531, vae.num_parameters());
        // Same key names, in the same order, as the official module: the reference case's file has the same tree when its
        // structure (levels, res blocks, attention scales, temporal downsampling) is Wan 2.1's; only the widths differ.
        using (var rc = ReferenceCase.Open("wan_vae"))
        {
            var c = WanVaeReferenceTests.CaseConfig(rc);
            var w = WanVaeConfig.Wan21;
            if (c.DimMult.Length == w.DimMult.Length && c.NumResBlocks == w.NumResBlocks && c.AttnScales.SequenceEqual(w.AttnScales)
                && c.TemporalDownsample.SequenceEqual(w.TemporalDownsample))
            {
                using var file = Safetensors.Open(rc.WeightsPath);
                Assert.Equal(file.Names.ToList(), sd.Keys.ToList());
            }
        }
        // Spot-check shapes of the released checkpoint's keys.
        Assert.Equal(new long[] { 96, 3, 3, 3, 3 }, sd["encoder.conv1.weight"].shape);
        Assert.Equal(new long[] { 192, 192, 3, 1, 1 }, sd["encoder.downsamples.5.time_conv.weight"].shape);
        Assert.Equal(new long[] { 384, 1, 1 }, sd["encoder.middle.1.norm.gamma"].shape);
        Assert.Equal(new long[] { 1152, 384, 1, 1 }, sd["encoder.middle.1.to_qkv.weight"].shape);
        Assert.Equal(new long[] { 32, 384, 3, 3, 3 }, sd["encoder.head.2.weight"].shape);
        Assert.Equal(new long[] { 32, 32, 1, 1, 1 }, sd["conv1.weight"].shape);
        Assert.Equal(new long[] { 16, 16, 1, 1, 1 }, sd["conv2.weight"].shape);
        Assert.Equal(new long[] { 768, 384, 3, 1, 1 }, sd["decoder.upsamples.3.time_conv.weight"].shape);
        Assert.Equal(new long[] { 192, 384, 3, 3 }, sd["decoder.upsamples.7.resample.1.weight"].shape);
        Assert.Equal(new long[] { 384, 192, 1, 1, 1 }, sd["decoder.upsamples.4.shortcut.weight"].shape);
        Assert.Equal(new long[] { 96, 192, 3, 3 }, sd["decoder.upsamples.11.resample.1.weight"].shape);
        Assert.Equal(new long[] { 3, 96, 3, 3, 3 }, sd["decoder.head.2.weight"].shape);
    }
}
