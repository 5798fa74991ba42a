using AptLab.Wan.Vae;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.Vae.VaeTestUtil;

namespace AptLab.Tests.Wan.Vae;

/// <summary>The <c>wan_vae</c> reference case: the official WanVAE (dim 8) on a [1, 3, 9, 24, 40] clip.</summary>
public sealed class WanVaeReferenceTests(ITestOutputHelper output)
{
    /// <summary>WanVAE_(dim, z_dim, dim_mult, num_res_blocks, attn_scales, temperal_downsample, dropout) of the case.</summary>
    public static WanVaeConfig CaseConfig(ReferenceCase rc)
    {
        var c = rc.Config;
        return new WanVaeConfig
        {
            Dim = c.GetProperty("dim").GetInt32(), ZDim = c.GetProperty("z_dim").GetInt32(),
            DimMult = c.GetProperty("dim_mult").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            NumResBlocks = c.GetProperty("num_res_blocks").GetInt32(),
            AttnScales = c.GetProperty("attn_scales").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
            TemporalDownsample = c.GetProperty("temperal_downsample").EnumerateArray().Select(e => e.GetBoolean()).ToArray(),
            Dropout = c.GetProperty("dropout").GetDouble(),
        };
    }

    private static (WanVAE vae, List<string> keys, ReferenceCase rc) Load(ITestOutputHelper? log = null)
    {
        var rc = ReferenceCase.Open("wan_vae", log);
        var vae = WanVAE.FromCheckpoint(rc.WeightsPath, CaseConfig(rc));
        vae.eval();
        List<string> keys;
        using (var weights = Checkpoint.Load(rc.WeightsPath)) keys = weights.Keys.ToList();
        return (vae, keys, rc);
    }

    [Fact]
    public void State_dict_keys_and_order_equal_the_official_module()
    {
        var (vae, fileKeys, rc) = Load();
        using var _ = vae;
        using var _rc = rc;
        Assert.Equal(fileKeys, vae.state_dict().Keys.ToList());
        var w = rc.Json.GetProperty("weights");
        Assert.Equal(w.GetProperty("num_tensors").GetInt32(), fileKeys.Count);
        Assert.Equal(w.GetProperty("num_params").GetInt64(), vae.num_parameters());
        // the wrapper's constants, as listed in the JSON
        var scale = rc.Json.GetProperty("scale");
        TensorAssert.Close(scale.GetProperty("mean").EnumerateArray().Select(e => e.GetDouble()).ToArray(), vae.latent_mean.flatten(), atol: 1e-7);
    }

    [Fact]
    public void Encode_normalise_and_decode_reproduce_the_official_tensors()
    {
        var (vae, _, rc) = Load(output);
        using var _v = vae;
        using var _rc = rc;
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();

        rc.Check("scale_mean", vae.latent_mean.flatten());
        rc.CheckExact("scale_inv_std", vae.latent_inv_std.flatten());             // 1/std in float32, bit for bit
        rc.Check("scale_std", vae.latent_inv_std.flatten().to(ScalarType.Float64).pow(-1.0), 1e-6);

        var video = rc.Input("video");                                            // [1, 3, T, H, W]
        var (mu, logVar) = vae.encode_moments(video);                             // [1, z, T', H', W']
        rc.Check("mu_raw", mu[0]);
        rc.Check("dbg.log_var", logVar[0]);
        var z = vae.encode(video);
        rc.Check("mu_scaled", z[0]);
        Assert.True(RelErr(vae.normalize(rc.Io["mu_raw"].unsqueeze(0))[0], rc.Io["mu_scaled"]) < Tol, "normalize(mu_raw)");

        // Decode the reference latent, so the decoder is checked on its own.
        var zRef = rc.Io["mu_scaled"].unsqueeze(0);
        var raw = vae.decode(zRef, clamp: false);                                 // [1, 3, T, H, W]
        rc.Check("decoded_raw", raw[0]);
        var clamped = vae.decode(zRef);
        Assert.True(RelErr(clamped[0], rc.Io["decoded_raw"].clamp(-1, 1)) < Tol, "decoded (clamped)");
        // And the whole chain: our own latent through our decoder.
        Assert.True(RelErr(vae.decode(z, clamp: false)[0], rc.Io["decoded_raw"]) < Tol, "decode(encode(video))");
        Assert.True(clamped.abs().max().item<double>() <= 1.0);
        rc.AssertAllAccountedFor();
    }

    private const double Tol = 1e-4;

    [Fact]
    public void Whole_sequence_formulation_matches_the_official_streaming_result()
    {
        var (vae, _, rc) = Load(output);
        using var _v = vae;
        using var _rc = rc;
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var (mu, logVar) = vae.encode_whole_sequence(rc.Io["video"]);
        double eMu = RelErr(mu[0], rc.Io["mu_raw"]), eLv = RelErr(logVar[0], rc.Io["dbg.log_var"]);
        double eDec = RelErr(vae.decode_whole_sequence(rc.Io["mu_scaled"].unsqueeze(0))[0], rc.Io["decoded_raw"]);
        output.WriteLine($"whole-sequence: mu_raw {eMu:E3}, log_var {eLv:E3}, decoded_raw {eDec:E3}");
        Assert.True(eMu < Tol && eLv < Tol && eDec < Tol, $"{eMu:E3} {eLv:E3} {eDec:E3}");
    }

    [Fact]
    public void Loads_the_pth_format_and_DiffSynth_prefixed_names_identically()
    {
        using var tmp = TestPaths.Temp();
        using var rc = ReferenceCase.Open("wan_vae");
        var cfg = CaseConfig(rc);
        var path = rc.WeightsPath;
        using var reference = WanVAE.FromCheckpoint(path, cfg);
        using (var sd = Checkpoint.Load(path))
        {
            Checkpoint.Save(tmp.File("Wan2.1_VAE.pth"), sd);                           // the released format
            Safetensors.Save(tmp.File("prefixed.safetensors"), sd.ToDictionary(kv => "model." + kv.Key, kv => kv.Value));
            var partial = sd.Where(kv => kv.Key != "decoder.head.2.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
            Safetensors.Save(tmp.File("partial.safetensors"), partial);
        }
        using var fromPth = WanVAE.FromCheckpoint(tmp.File("Wan2.1_VAE.pth"), cfg);
        using var fromPrefixed = WanVAE.FromCheckpoint(tmp.File("prefixed.safetensors"), cfg);
        using var scope = torch.NewScope();
        var want = reference.state_dict();
        foreach (var m in new[] { fromPth, fromPrefixed })
            foreach (var (k, t) in m.state_dict()) Assert.True(t.eq(want[k]).all().item<bool>(), k);
        var e = Assert.Throws<InvalidDataException>(() => WanVAE.FromCheckpoint(tmp.File("partial.safetensors"), cfg));
        Assert.Contains("decoder.head.2.bias", e.Message);
        Assert.Contains("partial.safetensors", e.Message);
    }
}
