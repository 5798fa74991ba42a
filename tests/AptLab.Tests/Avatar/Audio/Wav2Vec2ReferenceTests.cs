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
        var w = CaseJson().GetProperty("weights");
        Assert.Equal(w.GetProperty("num_tensors").GetInt32(), own.Count);
        Assert.Equal(w.GetProperty("num_params").GetInt64(), model.num_parameters());
        Assert.Equal(w.GetProperty("num_params").GetInt64(), CaseConfig.ParameterCount());
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
        var waveform = io["waveform"].data<float>();                  // [samples]
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
        using var rc = ReferenceCase.Open("wav2vec2", output);
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var input = rc.Input("input_values");
        rc.Check("conv_features", model.extract_conv_features(input));
        var (projected, norm) = model.feature_projection.forward(rc.Io["conv_features"]);
        rc.Check("projected_norm", norm);
        rc.Check("projected", projected);
        rc.Check("dbg.pos_conv_out", model.encoder.pos_conv_embed.forward(rc.Io["projected"]));

        using var outp = model.forward(input);
        var states = rc.Indexed(@"hidden_state_(\d+)");
        Assert.Equal(CaseConfig.num_hidden_layers + 1, states.Count);     // HF: the encoder input, then every layer's output
        Assert.Equal(states.Count, outp.hidden_states.Count);
        Assert.True(RelErr(outp.extract_features, rc.Io["projected_norm"]) < Tol, "extract_features");
        foreach (var (name, i) in states) rc.Check(name, outp.hidden_states[i]);
        rc.Check("last_hidden_state", outp.last_hidden_state);
        rc.Unchecked("waveform", "normalised into input_values by Normalisation_reproduces_the_hf_preprocessor");
        foreach (var k in rc.Io.Keys.Where(k => k.StartsWith("omni.")))
            rc.Unchecked(k, "OmniAvatar's forward: OmniAvatar_forward_and_concatenation_reproduce_the_reference");
        rc.AssertAllAccountedFor();
    }

    [Fact]
    public void OmniAvatar_forward_and_concatenation_reproduce_the_reference()
    {
        using var model = LoadReferenceModel();
        using var rc = ReferenceCase.Open("wav2vec2", output);
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        var encoder = new OmniAvatarAudioEncoder(model, new OmniAvatarAudioOptions(silence_duration_s: 0));
        var input = rc.Input("input_values");
        var pipeline = rc.Json.GetProperty("omniavatar_pipeline");
        int frames = pipeline.GetProperty("audio_len").GetInt32();
        // ceil(samples / 16000 * 25) video frames
        Assert.Equal((int)Math.Ceiling(input.size(1) / 16000.0 * 25), frames);
        Assert.Equal(frames, encoder.Options.VideoFrames(input.size(1)));
        rc.Check("omni.conv_features_interp", OmniAvatarAudioEncoder.linear_interpolation(rc.Io["conv_features"], frames));
        using var outp = encoder.Forward(input, frames);
        var states = rc.Indexed(@"omni\.hidden_state_(\d+)");
        Assert.Equal(outp.hidden_states.Count, states.Count);
        foreach (var (name, i) in states) rc.Check(name, outp.hidden_states[i]);
        rc.Check("omni.last_hidden_state", outp.last_hidden_state);

        var emb = encoder.Embed(input, frames);                            // [frames, (1 + hidden states) hidden]
        long h = CaseConfig.hidden_size;
        Assert.Equal([(long)frames, (1 + states.Count) * h], emb.shape);
        Assert.Equal((1 + states.Count) * h, encoder.EmbeddingDim);
        rc.Check("omni.audio_embeddings", emb);
        // Layout: block 0 = last state, blocks 1.. = hidden states 0..; the first and last blocks are equal.
        Assert.True(BitEqual(emb.narrow(1, 0, h), emb.narrow(1, states.Count * h, h)));
        Assert.True(RelErr(emb.narrow(1, h, h), rc.Io["omni.hidden_state_0"][0]) < Tol);
        foreach (var k in rc.Io.Keys.Where(k => !k.StartsWith("omni.")))
            if (k != "input_values" && k != "conv_features") rc.Unchecked(k, "the plain forward: Plain_forward_reproduces_every_hidden_state");
        rc.Unchecked("conv_features", "the input of the interpolation here; checked by Plain_forward_reproduces_every_hidden_state");
        rc.AssertAllAccountedFor();
    }
}
