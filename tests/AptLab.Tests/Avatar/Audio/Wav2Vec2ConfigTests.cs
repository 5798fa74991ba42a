using System.Text.Json;
using AptLab.Avatar.Audio;

namespace AptLab.Tests.Avatar.Audio;

public sealed class Wav2Vec2ConfigTests
{
    [Fact]
    public void Presets_validate_and_base_has_the_published_shape()
    {
        var b = Wav2Vec2Config.Base960h.Validate();
        Assert.Equal(320, b.TotalStride);
        Assert.Equal(49, b.ConvFrames(16000));        // 1 s -> 49 frames
        Assert.Equal(499, b.ConvFrames(160000));      // 10 s -> 499 frames
        Assert.Equal(0, b.ConvFrames(399));           // receptive field 400 samples
        Assert.Equal(1, b.ConvFrames(400));
        Assert.Equal(400, Wav2Vec2FeatureEncoder.MinSamples(b));
        for (int a = 1; a < 200; a += 7) Assert.Equal(2 * a - 1, b.ConvFrames(a * 640));   // docs/omniavatar.md#audio-features: 2A − 1
        Assert.Equal(10752, OmniAvatarAudioEncoder.EmbeddingWidth(b));                         // 14 × 768
        Wav2Vec2Config.Tiny.Validate();
    }

    [Theory]
    [InlineData("num_attention_heads")]
    [InlineData("conv_kernel")]
    [InlineData("do_stable_layer_norm")]
    [InlineData("feat_extract_norm")]
    [InlineData("num_conv_pos_embedding_groups")]
    public void Invalid_values_name_the_key(string key)
    {
        var c = Wav2Vec2Config.Base960h;
        var bad = key switch
        {
            "num_attention_heads" => c with { num_attention_heads = 7 },
            "conv_kernel" => c with { conv_kernel = [10, 3] },
            "do_stable_layer_norm" => c with { do_stable_layer_norm = true },
            "feat_extract_norm" => c with { feat_extract_norm = "layer" },
            _ => c with { num_conv_pos_embedding_groups = 5 },
        };
        var e = Assert.Throws<ArgumentException>(() => bad.Validate());
        Assert.Contains("Wav2Vec2Config." + key, e.Message);
        Assert.Throws<ArgumentException>(() => new Wav2Vec2Model(bad));
    }

    [Fact]
    public void Hf_config_json_reads_the_reference_config_and_rejects_wrong_types()
    {
        string json;
        using (var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile("wav2vec2.json"))))
            json = doc.RootElement.GetProperty("hf_config").GetRawText();
        var c = Wav2Vec2Config.FromHfConfigJson(json);
        using var hfDoc = JsonDocument.Parse(json);
        var hf = hfDoc.RootElement;
        int[] Ints(string k) => hf.GetProperty(k).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(Ints("conv_dim"), c.conv_dim);
        Assert.Equal(Ints("conv_kernel"), c.conv_kernel);
        Assert.Equal(Ints("conv_stride"), c.conv_stride);
        Assert.Equal(hf.GetProperty("conv_bias").GetBoolean(), c.conv_bias);
        Assert.Equal(hf.GetProperty("hidden_size").GetInt32(), c.hidden_size);
        Assert.Equal(hf.GetProperty("num_hidden_layers").GetInt32(), c.num_hidden_layers);
        Assert.Equal(hf.GetProperty("num_attention_heads").GetInt32(), c.num_attention_heads);
        Assert.Equal(hf.GetProperty("intermediate_size").GetInt32(), c.intermediate_size);
        Assert.Equal(hf.GetProperty("num_conv_pos_embeddings").GetInt32(), c.num_conv_pos_embeddings);
        Assert.Equal(hf.GetProperty("num_conv_pos_embedding_groups").GetInt32(), c.num_conv_pos_embedding_groups);
        Assert.Equal(hf.GetProperty("feat_extract_norm").GetString(), c.feat_extract_norm);

        var e = Assert.Throws<InvalidDataException>(() => Wav2Vec2Config.FromHfConfigJson("{\"hidden_size\": \"768\"}", "cfg.json"));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains("hidden_size", e.Message);
        var e2 = Assert.Throws<InvalidDataException>(() => Wav2Vec2Config.FromHfConfigJson("{\"do_stable_layer_norm\": true}", "large.json"));
        Assert.Contains("large.json", e2.Message);
        Assert.Contains("do_stable_layer_norm", e2.Message);
    }
}

public sealed class Wav2Vec2BaseSizeTests
{
    [Fact]
    public void Base960h_builds_and_yields_10752_wide_rows_per_video_frame()
    {
        using var model = new Wav2Vec2Model(Wav2Vec2Config.Base960h);
        model.eval();
        Assert.Equal(Wav2Vec2Config.Base960h.ParameterCount(), model.num_parameters());
        Assert.Equal([1L, 1, 128], model.encoder.pos_conv_embed.conv.weight_g.shape);
        Assert.Equal([768L, 48, 128], model.encoder.pos_conv_embed.conv.weight_v.shape);
        var encoder = new OmniAvatarAudioEncoder(model, new OmniAvatarAudioOptions(silence_duration_s: 0));
        using var gen = new Generator(7);
        using var wave = torch.randn([4800], generator: gen);             // 0.3 s
        using var f = encoder.EncodeSamples(wave.data<float>());
        Assert.Equal((8, 8), (f.ori_audio_len, f.audio_len));           // ceil(4800 / 640)
        Assert.Equal([8L, 10752], f.audio_embeddings.shape);
        Assert.True(BitEqualBlocks(f.audio_embeddings, 0, 13 * 768));    // last_hidden_state == hs[12]
    }

    private static bool BitEqualBlocks(Tensor emb, long a, long b) =>
        Wav2Vec2TestUtil.BitEqual(emb.narrow(1, a, 768), emb.narrow(1, b, 768));
}
