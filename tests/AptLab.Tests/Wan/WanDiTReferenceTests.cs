using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan;

/// <summary>The official WanModel's outputs and intermediates (reference cases wan_dit_t2v, wan_dit_i2v), compared on the
/// full tensors with ||out − ref|| / ||ref|| &lt; 1e-4. Shapes, seq_len, text_len and the blocks whose outputs are stored
/// all come from the case.</summary>
public class WanDiTReferenceTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("wan_dit_t2v")]
    [InlineData("wan_dit_i2v")]
    public void Matches_official_output_and_intermediates(string caseName)
    {
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open(caseName, log);
        using var model = LoadCaseModel(caseName);
        var cfg = model.config;
        long seqLen = rc.Json.GetProperty("seq_len").GetInt64();
        var x = rc.Input("x");
        var t = rc.Input("t");
        var context = rc.Input("context");
        bool i2v = cfg.IsI2V;
        var clip = i2v ? rc.Input("clip_fea") : null;
        var y = i2v ? rc.Input("y") : null;
        // out = model([x], t=t, context=[context], seq_len=seq_len[, clip_fea=clip_fea, y=[y]])[0], hidden states after every block
        int[] all = Enumerable.Range(0, cfg.NumLayers).ToArray();
        var result = model.forward([x], t, [context], seqLen, clip, y is null ? null : [y], returnHiddenAfter: all);
        rc.Check("out", result.Outputs[0]);
        var blocks = rc.Indexed(@"dbg\.block(\d+)_out");
        Assert.NotEmpty(blocks);
        foreach (var (name, i) in blocks) rc.Check(name, result.Hidden[i]);

        var (e, e0) = model.TimeEmbedding(t, 1);
        if (rc.Io.ContainsKey("dbg.time_embedding_e")) rc.Check("dbg.time_embedding_e", e);
        rc.Check("dbg.time_projection_e0", e0);
        rc.Check("dbg.patch_embedding", model.Patchify((y is null ? x : torch.cat([x, y], 0)).unsqueeze(0)));
        if (rc.Io.ContainsKey("dbg.text_embedding"))
            rc.Check("dbg.text_embedding", model.EmbedContext(F.pad(context, [0, 0, 0, cfg.TextLen - context.size(0)]).unsqueeze(0), null));
        if (i2v) rc.Check("dbg.img_emb", model.img_emb!.forward(clip!));
        rc.Check("dbg.head_out", model.head.forward(result.Hidden[^1], e));
        rc.Unchecked("out_attn_bf16qkv", "compared loosely (5e-2) by Bf16_attention_is_close_to_the_bf16_qkv_variant");
        rc.AssertAllAccountedFor();
    }

    [Theory]
    [InlineData("wan_dit_t2v")]
    [InlineData("wan_dit_i2v")]
    public void Bf16_attention_is_close_to_the_bf16_qkv_variant(string caseName)
    {
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open(caseName, log);
        using var model = LoadCaseModel(caseName);
        model.AttentionDtype = ScalarType.BFloat16;
        bool i2v = model.config.IsI2V;
        var outs = model.forward([rc.Io["x"]], rc.Io["t"], [rc.Io["context"]], rc.Json.GetProperty("seq_len").GetInt64(),
            i2v ? rc.Io["clip_fea"] : null, i2v ? [rc.Io["y"]] : null).Outputs;
        // README: the variant only approximates the GPU kernel; compare loosely. bf16 attention sums in the CPU kernels'
        // order: 1e-2 held on the recording machine, an AVX2 EPYC measured 3.3e-2 on the i2v case (bf16's 2^-8 step
        // through 2 blocks); 5e-2 still fails a float32-vs-bf16 mix-up of q/k/v (~1e-1 and more).
        rc.Check("out_attn_bf16qkv", outs[0], 5e-2);
    }

    [Fact]
    public void Bf16_weights_keep_float32_islands_and_stay_close()
    {
        // Big linears, patch and text embedding in bfloat16; time path, modulation, norms, residual stream and
        // head in float32 (docs/wan-dit.md#precision). bf16 rounding of the weights and activations costs ~1e-2.
        using var _ = torch.NewScope();
        using var rc = ReferenceCase.Open("wan_dit_t2v", log);
        using var model = LoadCaseModel("wan_dit_t2v");
        model.to(ScalarType.BFloat16);
        var r = model.forward([rc.Io["x"]], rc.Io["t"], [rc.Io["context"]], rc.Json.GetProperty("seq_len").GetInt64(), returnHiddenAfter: [0]);
        Assert.Equal(ScalarType.Float32, r.Outputs[0].dtype);
        Assert.Equal(ScalarType.Float32, r.Hidden[0].dtype);
        rc.Check("out", r.Outputs[0], 3e-2);
    }
}
