using AptLab.Wan.Vae;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.Vae.VaeTestUtil;

namespace AptLab.Tests.Wan.Vae;

/// <summary>The <c>wan_vae</c> reference case: the official WanVAE (dim 8) on a [1, 3, 9, 24, 40] clip.</summary>
public sealed class WanVaeReferenceTests(ITestOutputHelper output)
{
    private const double Tol = 1e-4;

    private static (WanVAE vae, List<string> keys, StateDict io) Load()
    {
        var path = TestPaths.ReferenceFile("wan_vae.weights.safetensors");
        var vae = WanVAE.FromCheckpoint(path, WanVaeConfig.Tiny);
        vae.eval();
        List<string> keys;
        using (var weights = Checkpoint.Load(path)) keys = weights.Keys.ToList();
        return (vae, keys, Checkpoint.Load(TestPaths.ReferenceFile("wan_vae.io.safetensors")));
    }

    [Fact]
    public void State_dict_keys_and_order_equal_the_official_module()
    {
        var (vae, fileKeys, io) = Load();
        using var _ = vae;
        Assert.Equal(fileKeys, vae.state_dict().Keys.ToList());
        Assert.Equal(194, fileKeys.Count);
        Assert.Equal(924_491, vae.num_parameters());
        io.Dispose();
    }

    [Fact]
    public void Encode_normalise_and_decode_reproduce_the_official_tensors()
    {
        var (vae, _, io) = Load();
        using var _v = vae;
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();

        var errs = new Dictionary<string, double>();
        errs["scale_mean"] = RelErr(vae.latent_mean.flatten(), io["scale_mean"]);
        errs["scale_inv_std"] = RelErr(vae.latent_inv_std.flatten(), io["scale_inv_std"]);
        Assert.Equal(0.0, errs["scale_inv_std"]);                 // 1/std in float32, bit for bit

        var video = io["video"];                                  // [1, 3, 9, 24, 40]
        var (mu, logVar) = vae.encode_moments(video);             // [1, 16, 3, 3, 5]
        errs["mu_raw"] = RelErr(mu[0], io["mu_raw"]);
        errs["dbg.log_var"] = RelErr(logVar[0], io["dbg.log_var"]);
        var z = vae.encode(video);
        errs["mu_scaled"] = RelErr(z[0], io["mu_scaled"]);
        errs["normalize(mu_raw)"] = RelErr(vae.normalize(io["mu_raw"].unsqueeze(0))[0], io["mu_scaled"]);

        // Decode the reference latent, so the decoder is checked on its own.
        var zRef = io["mu_scaled"].unsqueeze(0);                  // [1, 16, 3, 3, 5]
        var raw = vae.decode(zRef, clamp: false);                 // [1, 3, 9, 24, 40]
        errs["decoded_raw"] = RelErr(raw[0], io["decoded_raw"]);
        var clamped = vae.decode(zRef);
        errs["decoded (clamped)"] = RelErr(clamped[0], io["decoded_raw"].clamp(-1, 1));
        // And the whole chain: our own latent through our decoder.
        errs["decode(encode(video))"] = RelErr(vae.decode(z, clamp: false)[0], io["decoded_raw"]);

        foreach (var (k, e) in errs) output.WriteLine($"{k,-24} rel err {e:E3}");
        foreach (var (k, e) in errs) Assert.True(e < Tol, $"{k}: relative error {e:E3} ≥ {Tol}");
        Assert.Equal(1.0, clamped.abs().max().item<double>(), 6);  // the reference decode exceeds 1 (max 2.76)
        io.Dispose();
    }

    [Fact]
    public void Whole_sequence_formulation_matches_the_official_streaming_result()
    {
        var (vae, _, io) = Load();
        using var _v = vae;
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var (mu, logVar) = vae.encode_whole_sequence(io["video"]);
        double eMu = RelErr(mu[0], io["mu_raw"]), eLv = RelErr(logVar[0], io["dbg.log_var"]);
        double eDec = RelErr(vae.decode_whole_sequence(io["mu_scaled"].unsqueeze(0))[0], io["decoded_raw"]);
        output.WriteLine($"whole-sequence: mu_raw {eMu:E3}, log_var {eLv:E3}, decoded_raw {eDec:E3}");
        Assert.True(eMu < Tol && eLv < Tol && eDec < Tol, $"{eMu:E3} {eLv:E3} {eDec:E3}");
        io.Dispose();
    }

    [Fact]
    public void Loads_the_pth_format_and_DiffSynth_prefixed_names_identically()
    {
        using var tmp = TestPaths.Temp();
        var path = TestPaths.ReferenceFile("wan_vae.weights.safetensors");
        using var reference = WanVAE.FromCheckpoint(path, WanVaeConfig.Tiny);
        using (var sd = Checkpoint.Load(path))
        {
            Checkpoint.Save(tmp.File("Wan2.1_VAE.pth"), sd);                           // the released format
            Safetensors.Save(tmp.File("prefixed.safetensors"), sd.ToDictionary(kv => "model." + kv.Key, kv => kv.Value));
            var partial = sd.Where(kv => kv.Key != "decoder.head.2.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
            Safetensors.Save(tmp.File("partial.safetensors"), partial);
        }
        using var fromPth = WanVAE.FromCheckpoint(tmp.File("Wan2.1_VAE.pth"), WanVaeConfig.Tiny);
        using var fromPrefixed = WanVAE.FromCheckpoint(tmp.File("prefixed.safetensors"), WanVaeConfig.Tiny);
        using var scope = torch.NewScope();
        var want = reference.state_dict();
        foreach (var m in new[] { fromPth, fromPrefixed })
            foreach (var (k, t) in m.state_dict()) Assert.True(t.eq(want[k]).all().item<bool>(), k);
        var e = Assert.Throws<InvalidDataException>(() => WanVAE.FromCheckpoint(tmp.File("partial.safetensors"), WanVaeConfig.Tiny));
        Assert.Contains("decoder.head.2.bias", e.Message);
        Assert.Contains("partial.safetensors", e.Message);
    }
}
