using System.Text.Json;
using AptLab.Avatar.Audio;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Avatar.Audio.Wav2Vec2TestUtil;

namespace AptLab.Tests.Avatar.Audio;

/// <summary>Loading HF wav2vec2 checkpoints as they ship: the reference weights re-saved under the legacy and the
/// parametrizations spelling of the positional conv's weight norm, bare or inside a Wav2Vec2ForCTC state dict.</summary>
public sealed class Wav2Vec2LoadingTests(ITestOutputHelper output)
{
    private const string G = "encoder.pos_conv_embed.conv.weight_g", V = "encoder.pos_conv_embed.conv.weight_v";
    private const string G2 = "encoder.pos_conv_embed.conv.parametrizations.weight.original0";
    private const string V2 = "encoder.pos_conv_embed.conv.parametrizations.weight.original1";

    /// <summary>Runs the loaded model on the reference input; returns the relative error of the last hidden state and
    /// checks g and v landed on the right parameters, bit for bit.</summary>
    private static double CheckAgainstReference(Wav2Vec2Model model, StateDict reference)
    {
        using var io = LoadIo();
        using var scope = torch.NewScope();
        using var ng = torch.no_grad();
        Assert.True(BitEqual(model.encoder.pos_conv_embed.conv.weight_g, reference[G]));
        Assert.True(BitEqual(model.encoder.pos_conv_embed.conv.weight_v, reference[V]));
        using var outp = model.forward(io["input_values"]);
        return RelErr(outp.last_hidden_state, io["last_hidden_state"]);
    }

    [Fact]
    public void Legacy_weight_g_v_in_a_CTC_pytorch_model_bin_loads()
    {
        using var reference = Checkpoint.Load(WeightsPath);
        using var tmp = TestPaths.Temp();
        using var scope = torch.NewScope();
        // What facebook/wav2vec2-base-960h ships: Wav2Vec2ForCTC keys (prefix wav2vec2., masked_spec_embed, lm_head).
        var ctc = new Dictionary<string, Tensor> { ["wav2vec2.masked_spec_embed"] = torch.rand(CaseConfig.hidden_size) };
        foreach (var (k, t) in reference) ctc["wav2vec2." + k] = t;
        ctc["lm_head.weight"] = torch.randn(32, CaseConfig.hidden_size);
        ctc["lm_head.bias"] = torch.randn(32);
        var path = tmp.File("pytorch_model.bin");
        Checkpoint.Save(path, ctc);

        using var model = Wav2Vec2Model.FromCheckpoint(path, CaseConfig);
        Assert.False(model.training);
        double e = CheckAgainstReference(model, reference);
        output.WriteLine($"legacy spelling (.bin, CTC keys): last_hidden_state rel err {e:E3}");
        Assert.True(e < Tol);
    }

    [Fact]
    public void Parametrizations_spelling_in_a_safetensors_folder_with_config_json_loads()
    {
        using var reference = Checkpoint.Load(WeightsPath);
        using var tmp = TestPaths.Temp();
        var renamed = reference.ToDictionary(kv => kv.Key switch { G => G2, V => V2, _ => kv.Key }, kv => kv.Value);
        Assert.Contains(G2, renamed.Keys);
        Checkpoint.Save(tmp.File("model.safetensors"), renamed);
        // The case's HF config as config.json: mask_time_prob is absent, so (as in HF) the model gets a
        // masked_spec_embed that the file lacks, which is tolerated.
        using (var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile("wav2vec2.json"))))
            File.WriteAllText(tmp.File("config.json"), doc.RootElement.GetProperty("hf_config").GetRawText());

        using var model = Wav2Vec2Model.FromCheckpoint(tmp.Path);
        var hf = CaseJson().GetProperty("hf_config");
        Assert.Equal(hf.GetProperty("hidden_size").GetInt32(), model.config.hidden_size);
        Assert.Equal(hf.GetProperty("num_conv_pos_embeddings").GetInt32(), model.config.num_conv_pos_embeddings);
        Assert.NotNull(model.masked_spec_embed);
        double e = CheckAgainstReference(model, reference);
        output.WriteLine($"parametrizations spelling (.safetensors folder): last_hidden_state rel err {e:E3}");
        Assert.True(e < Tol);
    }

    [Fact]
    public void Both_spellings_at_once_and_missing_or_misshaped_keys_are_errors_naming_the_file()
    {
        using var reference = Checkpoint.Load(WeightsPath);
        using var tmp = TestPaths.Temp();

        var both = reference.ToDictionary(kv => kv.Key, kv => kv.Value);
        both[G2] = reference[G];
        both[V2] = reference[V];
        var bothPath = tmp.File("both.safetensors");
        Checkpoint.Save(bothPath, both);
        var e1 = Assert.Throws<InvalidDataException>(() => Wav2Vec2Model.FromCheckpoint(bothPath, CaseConfig));
        Assert.Contains(bothPath, e1.Message);
        Assert.Contains("twice", e1.Message);

        var missing = reference.Where(kv => kv.Key != "encoder.layers.1.final_layer_norm.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
        var missingPath = tmp.File("missing.safetensors");
        Checkpoint.Save(missingPath, missing);
        var e2 = Assert.Throws<InvalidDataException>(() => Wav2Vec2Model.FromCheckpoint(missingPath, CaseConfig));
        Assert.Contains(missingPath, e2.Message);
        Assert.Contains("encoder.layers.1.final_layer_norm.bias", e2.Message);

        // The real base-960h config against the tiny weights: shape mismatches, reported with the file.
        var e3 = Assert.Throws<InvalidDataException>(() => Wav2Vec2Model.FromCheckpoint(WeightsPath, CaseConfig with { hidden_size = CaseConfig.hidden_size + CaseConfig.num_attention_heads }));
        Assert.Contains("size mismatch for feature_projection.projection.weight", e3.Message);

        Assert.Throws<FileNotFoundException>(() => Wav2Vec2Model.FromCheckpoint(tmp.File("nope.bin"), CaseConfig));
        Assert.Throws<FileNotFoundException>(() => Wav2Vec2Model.FromCheckpoint(tmp.Path, CaseConfig));  // empty folder
    }
}
