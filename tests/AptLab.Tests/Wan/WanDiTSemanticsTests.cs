using System.Text.Json;
using AptLab.Wan;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan;

/// <summary>Padding, batching and per-sample grids follow the official semantics; config validation and the
/// closed-form values of the sinusoid and RoPE.</summary>
public class WanDiTSemanticsTests
{
    private static WanModel Tiny(string type, ulong seed)
    {
        var m = new WanModel(type == "i2v" ? WanConfig.TinyI2V with { ClipDim = 32 } : WanConfig.TinyT2V);
        Randomize(m, seed);
        return m;
    }

    [Fact]
    public void Sequence_padding_does_not_change_the_output()
    {
        // docs/wan-dit.md#forward-pass: latent [16, 3, 4, 6] (grid 3·2·3 = 18 tokens), 7 context rows, t = 937; seq_len 18 vs 23.
        using var _ = torch.NewScope();
        using var model = Tiny("t2v", 1);
        using var g = new Generator(2);
        var x = torch.randn([16, 3, 4, 6], generator: g);
        var ctx = torch.randn([7, 48], generator: g);
        var t = torch.tensor(new float[] { 937 });
        var a = model.forward([x], t, [ctx], 18, returnHiddenAfter: [1]);
        var b = model.forward([x], t, [ctx], 23, returnHiddenAfter: [1]);
        Assert.Equal(new long[] { 16, 3, 4, 6 }, b.Outputs[0].shape);
        Assert.Equal(new long[] { 1, 23, 64 }, b.Hidden[0].shape);
        Assert.True(RelErr(b.Outputs[0], a.Outputs[0]) < 1e-6);
        Assert.True(RelErr(b.Hidden[0].narrow(1, 0, 18), a.Hidden[0]) < 1e-6);
    }

    [Fact]
    public void Samples_with_different_grids_in_one_batch_match_single_sample_runs()
    {
        using var _ = torch.NewScope();
        using var model = Tiny("i2v", 3);
        using var g = new Generator(4);
        long[][] shapes = [[3, 4, 6], [2, 6, 4]];                 // grids (3,2,3) and (2,3,2): H' ≠ W', F' ≥ 2
        var xs = shapes.Select(s => torch.randn([16, .. s], generator: g)).ToArray();
        var ys = shapes.Select(s => torch.randn([20, .. s], generator: g)).ToArray();
        var ctx = new[] { torch.randn([7, 48], generator: g), torch.randn([3, 48], generator: g) };
        var clip = torch.randn([2, 5, 32], generator: g);
        var t = torch.tensor(new float[] { 937, 12.5f });
        var batch = model.forward(xs, t, ctx, 20, clip, ys).Outputs;
        for (int i = 0; i < 2; i++)
        {
            long n = shapes[i][0] * shapes[i][1] / 2 * shapes[i][2] / 2;
            var single = model.forward([xs[i]], t.narrow(0, i, 1), [ctx[i]], n, clip.narrow(0, i, 1), [ys[i]]).Outputs[0];
            Assert.Equal(xs[i].shape, batch[i].shape);
            Assert.True(RelErr(batch[i], single) < 1e-6, $"sample {i}: {RelErr(batch[i], single):E2}");
        }
    }

    [Fact]
    public void Batched_tensor_forward_equals_the_list_forward()
    {
        using var _ = torch.NewScope();
        using var model = Tiny("t2v", 5);
        using var g = new Generator(6);
        var x = torch.randn([2, 16, 3, 4, 6], generator: g);
        var ctx = F.pad(torch.randn([2, 7, 48], generator: g), [0, 0, 0, 3]);   // trailing zero rows = padding
        var t = torch.tensor(new float[] { 999, 250 });
        var batched = model.forward(x, t, ctx, null, null, [0]);
        var list = model.forward([x[0], x[1]], t, [ctx[0].narrow(0, 0, 7), ctx[1].narrow(0, 0, 7)], 18, returnHiddenAfter: [0]);
        Assert.True(RelErr(batched.Output[0], list.Outputs[0]) < 1e-6);
        Assert.True(RelErr(batched.Output[1], list.Outputs[1]) < 1e-6);
        Assert.True(RelErr(batched.Hidden[0], list.Hidden[0]) < 1e-6);
        // hidden_states stops after the requested block and returns the same features.
        var only = model.hidden_states(x, t, ctx, [0]);
        Assert.Equal(0.0, RelErr(only[0], batched.Hidden[0]));
        // The batch does not mix samples: sample 1 alone gives the same result.
        var alone = model.forward(x.narrow(0, 1, 1), t.narrow(0, 1, 1), ctx.narrow(0, 1, 1));
        Assert.True(RelErr(alone[0], batched.Output[1]) < 1e-6);
    }

    [Fact]
    public void Sinusoid_matches_the_spec_reference_values()
    {
        using var _ = torch.NewScope();
        var s = WanSinusoid.Embed(256, torch.tensor(new long[] { 999, 0 })).to(ScalarType.Float32).data<float>();
        Assert.Equal(0.99964988f, s[0], 6); Assert.Equal(0.96378249f, s[1], 6); Assert.Equal(-0.39899176f, s[2], 6);
        Assert.Equal(-0.02646075f, s[128], 6); Assert.Equal(-0.26668957f, s[129], 6); Assert.Equal(-0.91695452f, s[130], 6);
        Assert.Equal(0.99424314f, s[127], 6); Assert.Equal(0.10714724f, s[255], 6);
        for (int j = 0; j < 128; j++) { Assert.Equal(1f, s[256 + j]); Assert.Equal(0f, s[256 + 128 + j]); }
    }

    [Fact]
    public void Rope_rotates_adjacent_pairs_by_each_axis_position()
    {
        using var _ = torch.NewScope();
        // head_dim 128: pairs (22, 21, 21) with base dims (44, 42, 42).
        var table = WanRope.Table(128, [(2, 3, 4)], 30, ScalarType.Float64, Device.CPU);   // [1, 30, 1, 64]
        Assert.Equal(new long[] { 1, 30, 1, 64 }, table.shape);
        var re = table.real().reshape(30, 64).data<double>();
        var im = table.imag().reshape(30, 64).data<double>();
        int n = (1 * 3 + 2) * 4 + 3;                                  // token (f=1, h=2, w=3)
        double Angle(int pos, int j, int dimAxis) => pos / Math.Pow(10000, 2.0 * j / dimAxis);
        foreach (var (i, phi) in new[] { (0, Angle(1, 0, 44)), (5, Angle(1, 5, 44)), (22, Angle(2, 0, 42)),
                     (30, Angle(2, 8, 42)), (43, Angle(3, 0, 42)), (63, Angle(3, 20, 42)) })
        {
            Assert.Equal(Math.Cos(phi), re[n * 64 + i], 12);
            Assert.Equal(Math.Sin(phi), im[n * 64 + i], 12);
        }
        for (int row = 24; row < 30; row++)                          // padding rows are not rotated
            for (int i = 0; i < 64; i++) { Assert.Equal(1.0, re[row * 64 + i]); Assert.Equal(0.0, im[row * 64 + i]); }
        // Apply: y[2i] = x[2i]cos − x[2i+1]sin, y[2i+1] = x[2i]sin + x[2i+1]cos.
        var x = torch.randn([1, 30, 2, 128], ScalarType.Float64);
        var y = WanRope.Apply(x, table).data<double>();
        var xv = x.data<double>();
        int head = 1, pair = 30;
        int off = (n * 2 + head) * 128 + 2 * pair;
        double c = re[n * 64 + pair], sn = im[n * 64 + pair];
        Assert.Equal(xv[off] * c - xv[off + 1] * sn, y[off], 12);
        Assert.Equal(xv[off] * sn + xv[off + 1] * c, y[off + 1], 12);
    }

    [Fact]
    public void Config_validation_names_the_key()
    {
        Assert.Contains("num_heads", Assert.Throws<ArgumentException>(() => (WanConfig.TinyT2V with { NumHeads = 3 }).Validate()).Message);
        Assert.Contains("head_dim 2", Assert.Throws<ArgumentException>(() => (WanConfig.TinyT2V with { NumHeads = 32 }).Validate()).Message);
        Assert.Contains("model_type", Assert.Throws<ArgumentException>(() => (WanConfig.TinyT2V with { ModelType = "flf2v" }).Validate()).Message);
        Assert.Contains("freq_dim", Assert.Throws<ArgumentException>(() => (WanConfig.TinyT2V with { FreqDim = 31 }).Validate()).Message);
        Assert.Contains("window_size", Assert.Throws<ArgumentException>(() => (WanConfig.TinyT2V with { WindowSize = (4, 4) }).Validate()).Message);
        foreach (var c in new[] { WanConfig.T2V_1_3B, WanConfig.T2V_14B, WanConfig.I2V_14B, WanConfig.TinyT2V, WanConfig.TinyI2V }) c.Validate();
        Assert.Equal((22, 21, 21), WanConfig.T2V_14B.RopePairs);
        Assert.Equal((6, 5, 5), WanConfig.TinyT2V.RopePairs);

        using var unknown = JsonDocument.Parse("""{"dim": 64, "num_heads": 2, "dimm": 3}""");
        Assert.Contains("unknown key 'dimm'", Assert.Throws<InvalidDataException>(() => WanConfig.FromJson(unknown.RootElement, "cfg.json")).Message);
        using var wrong = JsonDocument.Parse("""{"dim": "64"}""");
        Assert.Contains("'dim'", Assert.Throws<InvalidDataException>(() => WanConfig.FromJson(wrong.RootElement, "cfg.json")).Message);
        // The official config.json of T2V-1.3B (diffusers ConfigMixin metadata keys start with "_").
        using var official = JsonDocument.Parse("""
            {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 1536,
             "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12,
             "num_layers": 30, "out_dim": 16, "text_len": 512}
            """);
        Assert.Equal(WanConfig.T2V_1_3B, WanConfig.FromJson(official.RootElement));
    }

    [Fact]
    public void Bad_inputs_give_clear_errors()
    {
        using var _ = torch.NewScope();
        using var model = Tiny("t2v", 9);
        var ctx = torch.randn(7, 48);
        var t = torch.tensor(new float[] { 1 });
        Assert.Contains("in_dim = 16", Assert.Throws<ArgumentException>(() => model.forward([torch.randn(15, 3, 4, 6)], t, [ctx], 18)).Message);
        Assert.Contains("multiples of the patch size", Assert.Throws<ArgumentException>(() => model.forward([torch.randn(16, 3, 5, 6)], t, [ctx], 18)).Message);
        Assert.Contains("seq_len 17", Assert.Throws<ArgumentException>(() => model.forward([torch.randn(16, 3, 4, 6)], t, [ctx], 17)).Message);
        Assert.Contains("context[0]", Assert.Throws<ArgumentException>(() => model.forward([torch.randn(16, 3, 4, 6)], t, [torch.randn(7, 40)], 18)).Message);
        Assert.Contains("only accepted by an i2v", Assert.Throws<ArgumentException>(() =>
            model.forward([torch.randn(16, 3, 4, 6)], t, [ctx], 18, torch.randn(1, 5, 32), [torch.randn(20, 3, 4, 6)])).Message);
        Assert.Contains("returnHiddenAfter", Assert.Throws<ArgumentException>(() => model.forward([torch.randn(16, 3, 4, 6)], t, [ctx], 18, returnHiddenAfter: [2])).Message);
    }
}
