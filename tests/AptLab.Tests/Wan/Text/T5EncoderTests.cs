using AptLab.Wan.Text;
using AptLab.Torch.IO;
using Xunit.Abstractions;

namespace AptLab.Tests.Wan.Text;

public class T5EncoderTests(ITestOutputHelper log)
{
    private static readonly T5EncoderConfig RefConfig = new() { Vocab = 300, Dim = 64, DimAttn = 64, DimFfn = 128, NumHeads = 4,
        NumLayers = 3, NumBuckets = 32, SharedPos = false };

    [Fact]
    public void Reproduces_the_t5_encoder_reference_case()
    {
        using var _ = torch.NewScope();
        using var weights = Checkpoint.Load(TestPaths.ReferenceFile("t5_encoder.weights.safetensors"));
        using var io = Checkpoint.Load(TestPaths.ReferenceFile("t5_encoder.io.safetensors"));
        using var enc = T5Encoder.FromCheckpoint(TestPaths.ReferenceFile("t5_encoder.weights.safetensors"), RefConfig);
        Assert.Equal(142912, enc.num_parameters());
        Assert.Equal(weights.Keys, enc.state_dict().Keys);   // same keys in the same order as the official module

        var ids = io["ids"].to(ScalarType.Int64);
        var mask = io["mask"].to(ScalarType.Int64);
        Assert.Equal(io["ids"].data<float>().Select(v => (long)v), ids.data<long>());

        var buckets = T5RelativeEmbedding.Buckets(12, 12, 32, 128);
        Assert.Equal(io["dbg.rel_pos_buckets"].to(ScalarType.Int64).data<long>(), buckets.data<long>());

        using var noGrad = torch.no_grad();
        var bias0 = enc.blocks[0].pos_embedding!.forward(12, 12);
        var out_ = enc.forward(ids, mask);
        var trimmed = T5Encoder.TrimToLength(out_, mask);
        double eBias = RefCompare.RelErr(bias0, io["dbg.pos_bias_block0"]);
        double eOut = RefCompare.RelErr(out_, io["out"]);
        double eTrim = RefCompare.RelErr(trimmed[0], io["out_trimmed"]);
        log.WriteLine($"rel err: pos_bias_block0 {eBias:E2}, out {eOut:E2}, out_trimmed {eTrim:E2}");
        Assert.True(eBias < 1e-6, $"pos_bias_block0 rel err {eBias}");
        Assert.True(eOut < 1e-4, $"out rel err {eOut}");
        Assert.True(eTrim < 1e-4, $"out_trimmed rel err {eTrim}");
        Assert.Equal(new long[] { 6 }, T5Encoder.SeqLens(mask));
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
        using var weights = Checkpoint.Load(TestPaths.ReferenceFile("t5_encoder.weights.safetensors"));
        using var enc = new T5Encoder(RefConfig with { NumBuckets = 16 });
        var e = Assert.Throws<InvalidDataException>(() => enc.load_state_dict(weights));
        Assert.Contains("blocks.0.pos_embedding.embedding.weight", e.Message);
    }
}
