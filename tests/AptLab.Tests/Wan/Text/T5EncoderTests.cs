using AptLab.Wan.Text;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Wan.Text;

public class T5EncoderTests(ITestOutputHelper log)
{
    /// <summary>The case's T5Encoder(...) arguments; the bucket saturation distance from its notes ("max_dist N").</summary>
    private static T5EncoderConfig CaseConfig(ReferenceCase rc)
    {
        var c = rc.Config;
        int maxDist = int.Parse(ReferenceCase.Parse(string.Join(" ", rc.Json.GetProperty("notes").EnumerateArray().Select(n => n.GetString())),
            @"max_dist (\d+)")[0]);
        return new T5EncoderConfig
        {
            Vocab = c.GetProperty("vocab").GetInt32(), Dim = c.GetProperty("dim").GetInt32(), DimAttn = c.GetProperty("dim_attn").GetInt32(),
            DimFfn = c.GetProperty("dim_ffn").GetInt32(), NumHeads = c.GetProperty("num_heads").GetInt32(),
            NumLayers = c.GetProperty("num_layers").GetInt32(), NumBuckets = c.GetProperty("num_buckets").GetInt32(),
            SharedPos = c.GetProperty("shared_pos").GetBoolean(), MaxDistance = maxDist,
        };
    }

    [Fact]
    public void Reproduces_the_t5_encoder_reference_case()
    {
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open("t5_encoder", log);
        var cfg = CaseConfig(rc);
        using var weights = Checkpoint.Load(rc.WeightsPath);
        using var enc = T5Encoder.FromCheckpoint(rc.WeightsPath, cfg);
        var w = rc.Json.GetProperty("weights");
        Assert.Equal(w.GetProperty("num_params").GetInt64(), enc.num_parameters());
        Assert.Equal(w.GetProperty("num_tensors").GetInt32(), weights.Count);
        Assert.Equal(weights.Keys, enc.state_dict().Keys);   // same keys in the same order as the official module

        var ids = rc.Input("ids").to(ScalarType.Int64);
        var mask = rc.Input("mask").to(ScalarType.Int64);
        Assert.Equal(rc.Json.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()), ids.flatten().data<long>());
        Assert.Equal(rc.Json.GetProperty("mask").EnumerateArray().Select(e => e.GetInt64()), mask.flatten().data<long>());
        long len = ids.size(1);

        rc.CheckExact("dbg.rel_pos_buckets", T5RelativeEmbedding.Buckets(len, len, cfg.NumBuckets, cfg.MaxDistance));

        using var noGrad = torch.no_grad();
        var out_ = enc.forward(ids, mask);
        var trimmed = T5Encoder.TrimToLength(out_, mask);
        rc.Check("dbg.pos_bias_block0", enc.blocks[0].pos_embedding!.forward(len, len), 1e-6);
        rc.Check("out", out_);
        rc.Check("out_trimmed", trimmed[0]);
        Assert.Equal(mask.sum([1]).data<long>(), T5Encoder.SeqLens(mask));
        Assert.Equal(rc.Io["out_trimmed"].size(0), T5Encoder.SeqLens(mask)[0]);
        rc.AssertAllAccountedFor();
    }

    [Fact]
    public void Buckets_match_the_spec_table_for_long_sequences()
    {
        // docs/umt5.md#forward: n = |rel| -> bucket (rel <= 0), +16 for rel > 0 (n >= 1)
        static long Expected(long rel)
        {
            long n = Math.Abs(rel);
            long b = n < 8 ? n : n <= 11 ? 8 : n <= 15 ? 9 : n <= 22 ? 10 : n <= 31 ? 11 : n <= 45 ? 12 : n <= 63 ? 13 : n <= 90 ? 14 : 15;
            return rel > 0 ? 16 + b : b;
        }
        using var _ = torch.NewScope();
        const int L = 601;   // |rel| up to 600 both ways
        var table = T5RelativeEmbedding.Buckets(L, L, 32, 128).data<long>();
        for (int i = 0; i < L; i += 7)
            for (int j = 0; j < L; j++)
                Assert.True(table[i * L + j] == Expected(j - i), $"bucket(q={i}, k={j}) = {table[i * L + j]}, expected {Expected(j - i)}");
    }

    [Fact]
    public void Padding_does_not_change_real_rows_and_zero_padding_equals_trimming()
    {
        // T5-tiny with sequence length 300 and masks of 250 and 17 real tokens (docs/wan-dit.md#forward-pass).
        using var _ = torch.NewScope();
        using var noGrad = torch.no_grad();
        var g = new Generator(7);
        using var enc = new T5Encoder(T5EncoderConfig.Tiny, generator: g);
        var ids = torch.randint(2, 100, [2, 300], generator: g);
        var lens = new long[] { 250, 17 };
        var mask = torch.zeros([2, 300], ScalarType.Int64);
        for (int b = 0; b < 2; b++) mask[b].narrow(0, 0, lens[b]).fill_(1);
        var full = enc.forward(ids, mask);
        var trimmed = T5Encoder.TrimToLength(full, mask);
        for (int b = 0; b < 2; b++)
        {
            // the same tokens without any padding give the same rows: padded keys are fully masked
            var alone = enc.forward(ids[b].narrow(0, 0, lens[b]).unsqueeze(0), torch.ones([1, lens[b]], ScalarType.Int64));
            double e = RefCompare.RelErr(trimmed[b], alone[0]);
            log.WriteLine($"batch {b}: padded vs unpadded rel err {e:E2}");
            Assert.True(e < 1e-5, $"batch {b}: {e}");
        }
        var zeroed = T5Encoder.ZeroPadding(full, mask);
        Assert.Equal(0.0, zeroed[1].narrow(0, 17, 283).abs().sum().item<double>());
        Assert.Equal(0.0, (zeroed[0].narrow(0, 0, 250) - trimmed[0]).abs().max().item<double>());
    }

    [Fact]
    public void UmT5_xxl_preset_has_the_official_keys_and_parameter_count()
    {
        using var enc = new T5Encoder(T5EncoderConfig.UmT5Xxl, ScalarType.BFloat16, Device.Meta);
        var sd = enc.state_dict();
        Assert.Equal(242, sd.Count);
        Assert.Equal(5_680_910_336L, enc.num_parameters());
        Assert.Equal(new long[] { 256384, 4096 }, sd["token_embedding.weight"].shape);
        Assert.Equal(new long[] { 32, 64 }, sd["blocks.23.pos_embedding.embedding.weight"].shape);
        Assert.Equal(new long[] { 10240, 4096 }, sd["blocks.5.ffn.gate.0.weight"].shape);
        Assert.Equal(new long[] { 4096, 10240 }, sd["blocks.5.ffn.fc2.weight"].shape);
        Assert.Equal(new long[] { 4096 }, sd["norm.weight"].shape);
        Assert.DoesNotContain("pos_embedding.embedding.weight", sd.Keys);
    }

    [Fact]
    public void Invalid_config_names_the_key()
    {
        var e = Assert.Throws<ArgumentException>(() => (T5EncoderConfig.Tiny with { NumHeads = 5 }).Validate());
        Assert.Contains("DimAttn", e.Message);
        e = Assert.Throws<ArgumentException>(() => (T5EncoderConfig.Tiny with { NumLayers = 0 }).Validate());
        Assert.Contains("NumLayers", e.Message);
    }

    [Fact]
    public void Wrong_checkpoint_shape_is_reported_with_the_key()
    {
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open("t5_encoder");
        var cfg = CaseConfig(rc);
        using var weights = Checkpoint.Load(rc.WeightsPath);
        using var enc = new T5Encoder(cfg with { NumBuckets = cfg.NumBuckets / 2 });
        var e = Assert.Throws<InvalidDataException>(() => enc.load_state_dict(weights));
        Assert.Contains("blocks.0.pos_embedding.embedding.weight", e.Message);
    }
}
