using AptLab.Avatar.Audio;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Avatar.Audio.Wav2Vec2TestUtil;

namespace AptLab.Tests.Avatar.Audio;

/// <summary>The <c>wav2vec2</c> reference case: HF Wav2Vec2Model semantics (tiny base layout, random weights) and
/// OmniAvatar's <c>Wav2VecModel.forward</c> + feature concatenation.</summary>
public sealed class Wav2Vec2ReferenceTests(ITestOutputHelper output)
{
    private void Report(Dictionary<string, double> errs)
    {
        foreach (var (k, e) in errs) output.WriteLine($"{k,-28} rel err {e:E3}");
        foreach (var (k, e) in errs) Assert.True(e < Tol, $"{k}: relative error {e:E3} >= {Tol}");
    }

    [Fact]
    public void Keys_shapes_and_parameter_count_match_the_reference_weights()
    {
        using var model = LoadReferenceModel();
        using var weights = Checkpoint.Load(WeightsPath);
        var own = model.state_dict();
        Assert.Equal(weights.Keys.OrderBy(k => k, StringComparer.Ordinal), own.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in weights) Assert.Equal(t.shape, own[k].shape);
        Assert.Equal(50, own.Count);
        Assert.Equal(65_712, model.num_parameters());
        Assert.Equal(65_712, Wav2Vec2Config.Tiny.ParameterCount());
        // The published size of facebook/wav2vec2-base-960h (Wav2Vec2ForCTC: 94 396 320) minus lm_head (768·32 + 32).
        Assert.Equal(94_396_320 - 24_608, Wav2Vec2Config.Base960h.ParameterCount());
        // HF's module order (the order of the shipped checkpoint): conv before its GroupNorm, pos-conv bias, g, v.
        var keys = own.Keys.ToList();
        Assert.True(keys.IndexOf("feature_extractor.conv_layers.0.conv.weight") < keys.IndexOf("feature_extractor.conv_layers.0.layer_norm.weight"));
        Assert.Equal(["encoder.pos_conv_embed.conv.bias", "encoder.pos_conv_embed.conv.weight_g", "encoder.pos_conv_embed.conv.weight_v"],
                     keys.Where(k => k.StartsWith("encoder.pos_conv_embed")).ToList());
    }

    [Fact]
    public void Normalisation_reproduces_the_hf_preprocessor()
    {
        using var io = LoadIo();
        var waveform = io["waveform"].data<float>();                  // [20800]
        var normed = Wav2Vec2Preprocessor.zero_mean_unit_var_norm(waveform);
        using var t = torch.tensor(normed, 1, normed.Length);
        double e = RelErr(t, io["input_values"]);
        output.WriteLine($"input_values rel err {e:E3}");
        Assert.True(e < 1e-6, $"input_values: relative error {e:E3}");
        // Exact closed form on a tiny input: [1, 2, 3] -> mean 2, var 2/3.
        var small = Wav2Vec2Preprocessor.zero_mean_unit_var_norm([1f, 2f, 3f]);
        double s = 1 / Math.Sqrt(2.0 / 3 + 1e-7);
        Assert.Equal([(float)-s, 0f, (float)s], small);
    }

    [Fact]
    public void Plain_forward_reproduces_every_hidden_state()
    {
        using var model = LoadReferenceModel();
        using var io = LoadIo();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var errs = new Dictionary<string, double>();

        var conv = model.extract_conv_features(io["input_values"]);     // [1, 64, 32]
        errs["conv_features"] = RelErr(conv, io["conv_features"]);
        var (projected, norm) = model.feature_projection.forward(io["conv_features"]);
        errs["projected_norm"] = RelErr(norm, io["projected_norm"]);
        errs["projected"] = RelErr(projected, io["projected"]);
        errs["dbg.pos_conv_out"] = RelErr(model.encoder.pos_conv_embed.forward(io["projected"]), io["dbg.pos_conv_out"]);

        using var outp = model.forward(io["input_values"]);
        Assert.Equal(3, outp.hidden_states.Count);
        errs["extract_features"] = RelErr(outp.extract_features, io["projected_norm"]);
        for (int i = 0; i < 3; i++) errs[$"hidden_state_{i}"] = RelErr(outp.hidden_states[i], io[$"hidden_state_{i}"]);
        errs["last_hidden_state"] = RelErr(outp.last_hidden_state, io["last_hidden_state"]);
        Report(errs);
    }

    [Fact]
    public void OmniAvatar_forward_and_concatenation_reproduce_the_reference()
    {
        using var model = LoadReferenceModel();
        using var io = LoadIo();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var encoder = new OmniAvatarAudioEncoder(model, new OmniAvatarAudioOptions(silence_duration_s: 0));
        var errs = new Dictionary<string, double>();

        Assert.Equal(33, encoder.Options.VideoFrames(20800));             // ceil(20800 / 16000 · 25)
        errs["omni.conv_features_interp"] = RelErr(OmniAvatarAudioEncoder.linear_interpolation(io["conv_features"], 33),
                                                   io["omni.conv_features_interp"]);
        using var outp = encoder.Forward(io["input_values"], 33);
        for (int i = 0; i < 3; i++) errs[$"omni.hidden_state_{i}"] = RelErr(outp.hidden_states[i], io[$"omni.hidden_state_{i}"]);
        errs["omni.last_hidden_state"] = RelErr(outp.last_hidden_state, io["omni.last_hidden_state"]);

        var emb = encoder.Embed(io["input_values"], 33);                   // [33, 4 · 48]
        Assert.Equal([33L, 192], emb.shape);
        Assert.Equal(192, encoder.EmbeddingDim);
        errs["omni.audio_embeddings"] = RelErr(emb, io["omni.audio_embeddings"]);
        // Layout: block 0 = last state, blocks 1..3 = hidden states 0..2; the first and last blocks are equal.
        Assert.True(BitEqual(emb.narrow(1, 0, 48), emb.narrow(1, 144, 48)));
        errs["omni.audio_embeddings[:, 48:96] vs hs0"] = RelErr(emb.narrow(1, 48, 48), io["omni.hidden_state_0"][0]);
        Report(errs);
    }
}
