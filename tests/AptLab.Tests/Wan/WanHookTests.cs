using AptLab.Wan;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan;

/// <summary>WanModel's extension points (docs/wan-dit.md#extension-points) against what each one must equal.</summary>
public class WanHookTests
{
    private static WanModel Tiny(ulong seed)
    {
        var m = new WanModel(WanConfig.TinyT2V);
        Randomize(m, seed);
        m.eval();
        return m;
    }

    private static (Tensor x, Tensor t, Tensor ctx) Inputs(int frames, ulong seed)
    {
        using var g = new Generator(seed);
        return (torch.randn([2, 16, frames, 4, 6], generator: g), torch.tensor(new float[] { 937, 412 }), torch.randn([2, 7, 48], generator: g));
    }

    /// <summary>Appends the tokens of a latent clip's later frames, with those frames' RoPE positions.</summary>
    private sealed class LaterFrames(WanModel model, Tensor later) : WanHook
    {
        public override WanExtraTokens? ExtraTokens(long batch, (int F, int H, int W) grid)
        {
            var tokens = model.Patchify(later);                                   // [B, E, dim]
            int f = (int)later.size(2), h = grid.H, w = grid.W;
            var pos = Enumerable.Range(0, f * h * w).ToArray();
            return new WanExtraTokens(tokens, pos.Select(i => (long)(grid.F + i / (h * w))).ToArray(),
                pos.Select(i => (long)(i / w % h)).ToArray(), pos.Select(i => (long)(i % w)).ToArray());
        }
    }

    [Fact]
    public void Extra_tokens_with_their_rope_positions_equal_the_longer_clip()
    {
        // A 3-frame clip = its first frame + the two later frames appended as extra tokens at frame positions 1, 2:
        // the residual stream of every block is the same (catches wrong positions, order or a missing RoPE row).
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var model = Tiny(5);
        var (x, t, ctx) = Inputs(3, 6);
        var full = model.forward(x, t, ctx, null, null, [0, 1]);
        var split = model.forward(x.narrow(2, 0, 1), t, ctx, null, null, [0, 1], [new LaterFrames(model, x.narrow(2, 1, 2))]);
        Assert.Equal(new long[] { 2, 16, 1, 4, 6 }, split.Output.shape);          // the head reads the latent tokens only
        Assert.True(RelErr(split.Hidden[0], full.Hidden[0]) < 1e-5, $"{RelErr(split.Hidden[0], full.Hidden[0])}");
        Assert.True(RelErr(split.Hidden[1], full.Hidden[1]) < 1e-5);
        Assert.True(RelErr(split.Output, full.Output.narrow(2, 0, 1)) < 1e-5);  // frame 0's velocity of the whole clip
        var alone = model.forward(x.narrow(2, 0, 1), t, ctx);                    // without the later frames it differs
        Assert.True(RelErr(split.Output, alone) > 1e-3);
    }

    /// <summary>Records x after block 0's cross-attention and adds a residual there.</summary>
    private sealed class CrossProbe(Tensor delta) : WanHook
    {
        public Tensor? Seen;
        public readonly List<int> Calls = [];
        public override Tensor AfterCrossAttention(int block, Tensor x)
        {
            Calls.Add(block);
            if (block != 0) return x;
            Seen = x.clone().DetachFromScope();
            return x + delta;
        }
    }

    /// <summary>Adds a residual to the tokens before a block or right after the patch embedding.</summary>
    private sealed class Add(Tensor delta, int? beforeBlock) : WanHook
    {
        public override Tensor OnPatchTokens(Tensor tokens, (int F, int H, int W) grid) => beforeBlock is null ? tokens + delta : tokens;
        public override Tensor BeforeBlock(int block, Tensor x, (int F, int H, int W) grid) => block == beforeBlock ? x + delta : x;
    }

    [Fact]
    public void After_cross_attention_sees_the_block_state_between_cross_attention_and_ffn()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var model = Tiny(7);
        var (x, t, ctx) = Inputs(2, 8);
        using var g = new Generator(9);
        var delta = torch.randn([2, 12, WanConfig.TinyT2V.Dim], generator: g) * 0.1;
        var probe = new CrossProbe(delta);
        var hooked = model.forward(x, t, ctx, null, null, [0], [probe]);
        Assert.Equal(Enumerable.Range(0, model.blocks.Count), probe.Calls);
        // block 0 by hand: x1 = x + SelfAttn(..)·m2, x2 = x1 + CrossAttn(norm3(x1), ctx), out = x2' + FFN(..)·m5
        var b0 = model.blocks[0];
        var tokens = model.Patchify(x);
        var (_, e0) = model.TimeEmbedding(t, 2);
        var context = model.EmbedContext(torch.cat([ctx, torch.zeros([2, WanConfig.TinyT2V.TextLen - 7, 48])], 1), null);
        var rope = WanRope.Table(WanConfig.TinyT2V.HeadDim, [(2, 2, 3), (2, 2, 3)], 12, ScalarType.Float32, Device.CPU);
        var m = (b0.modulation + e0).chunk(6, 1);
        var x1 = tokens + b0.self_attn.forward(b0.norm1.forward(tokens) * (m[1] + 1.0) + m[0], rope, null) * m[2];
        var x2 = x1 + b0.cross_attn.forward(b0.norm3 is null ? x1 : b0.norm3.forward(x1), context, WanConfig.TinyT2V.TextLen);
        Assert.True(RelErr(probe.Seen!, x2) < 1e-6, $"{RelErr(probe.Seen!, x2)}");
        // the residual reaches the FFN: block 0's output = the block run on the state with the residual added
        var x3 = x2 + delta;
        var ffnIn = b0.norm2.forward(x3) * (m[4] + 1.0) + m[3];
        var y = ((AptLab.Torch.nn.Linear)b0.ffn[2]).forward(F.gelu(((AptLab.Torch.nn.Linear)b0.ffn[0]).forward(ffnIn), tanh: true));
        Assert.True(RelErr(hooked.Hidden[0], x3 + y * m[5]) < 1e-6);
    }

    [Fact]
    public void Patch_token_and_before_block_hooks_add_at_their_place()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var model = Tiny(11);
        var (x, t, ctx) = Inputs(2, 12);
        using var g = new Generator(13);
        var delta = torch.randn([2, 12, WanConfig.TinyT2V.Dim], generator: g) * 0.1;
        var plain = model.forward(x, t, ctx, null, null, [0, 1]);
        var atPatch = model.forward(x, t, ctx, null, null, [0, 1], [new Add(delta, null)]);
        var atBlock0 = model.forward(x, t, ctx, null, null, [0, 1], [new Add(delta, 0)]);
        var atBlock1 = model.forward(x, t, ctx, null, null, [0, 1], [new Add(delta, 1)]);
        Assert.Equal(0.0, RelErr(atPatch.Output, atBlock0.Output));              // both precede block 0
        Assert.Equal(0.0, RelErr(atBlock1.Hidden[0], plain.Hidden[0]));          // block 0 runs before the add
        Assert.True(RelErr(atBlock1.Hidden[1], plain.Hidden[1]) > 1e-3);
        Assert.Equal(0.0, RelErr(model.forward(x, t, ctx, null, null, null, [new Add(delta * 0.0, 1)]).Output, plain.Output));
    }
}
