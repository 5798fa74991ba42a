using AptLab.Avatar;
using AptLab.Wan;
using AptLab.Torch.IO;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Avatar;

/// <summary>Batch semantics, the 16 → 33 channel loading rule and the training init of the OmniAvatar DiT.</summary>
public class OmniAvatarDiTSemanticsTests(ITestOutputHelper log)
{
    private static (Tensor x, Tensor t, Tensor ctx, Tensor y, Tensor audio) Inputs(OmniAvatarConfig c, int batch, ulong seed, int frames = 3, int h = 4, int w = 6)
    {
        using var g = new Generator(seed);
        var x = torch.randn([batch, 16, frames, h, w], generator: g);
        var t = torch.tensor(Enumerable.Range(0, batch).Select(i => 900f - 250f * i).ToArray(), batch);
        var ctx = torch.randn([batch, 5, c.Wan.TextDim], generator: g);
        var y = torch.randn([batch, 17, frames, h, w], generator: g);
        var audio = torch.randn([batch, 4 * frames - 3, c.AudioInDim], generator: g) * 0.5;
        return (x, t, ctx, y, audio);
    }

    [Fact]
    public void A_batch_of_two_equals_two_single_runs()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny;
        using var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, 7, c.Wan.Dim);
        var (x, t, ctx, y, audio) = Inputs(c, 2, 11);
        var both = model.forward(x, t, ctx, y, audio);                              // [2, 16, 3, 4, 6]
        for (int i = 0; i < 2; i++)
        {
            var single = model.forward(x.narrow(0, i, 1), t.narrow(0, i, 1), ctx.narrow(0, i, 1), y.narrow(0, i, 1), audio.narrow(0, i, 1));
            double err = RelErr(both.narrow(0, i, 1), single);
            log.WriteLine($"sample {i}: batch vs single rel err {err:E2}");
            Assert.True(err < 1e-6, $"sample {i}: {err:E3}");
        }
        // Upstream's concat-on-dim-0-then-reshape gives sample 0 the projections of the wrong rows when B = 2.
        var za = model.audio_proj.forward(audio);                                   // [2, T, hidden]
        var upstream = torch.cat(model.audio_cond_projs.Select(p => p.forward(za)).ToList(), 0)
            .reshape(2, c.NumAudioProjections, 3, c.Wan.Dim);
        var ours = model.AudioConditioning(audio);                                  // [2, K, T, dim]
        double mix = RelErr(upstream, ours);
        log.WriteLine($"upstream B=2 audio terms vs per-sample: rel diff {mix:E2}");
        Assert.True(mix > 0.1);
        Assert.True(RelErr(torch.cat(model.audio_cond_projs.Select(p => p.forward(za.narrow(0, 0, 1))).ToList(), 0)
            .reshape(1, c.NumAudioProjections, 3, c.Wan.Dim), ours.narrow(0, 0, 1)) < 1e-6);   // B = 1: the same
    }

    [Fact]
    public void Audio_term_j_enters_exactly_at_block_first_plus_j()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny with { Wan = AvatarTestUtil.Tiny.Wan with { NumLayers = 8 } };
        var (first, last) = c.AudioBlocks;                                          // 8 layers: blocks 2..4, three terms
        Assert.Equal((2, c.Wan.NumLayers / 2), (first, last));                      // the spec's rule, not a derived one
        Assert.Equal(last - first + 1, c.NumAudioProjections);
        using var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, 3, c.Wan.Dim);
        var (x, t, ctx, y, audio) = Inputs(c, 1, 5);
        int[] all = Enumerable.Range(0, c.Wan.NumLayers).ToArray();
        var none = model.forward_with_audio_terms(x, t, ctx, y, null, returnHiddenAfter: all);
        var terms = model.AudioConditioning(audio);                                 // [1, K, T, dim]
        for (int j = 0; j < c.NumAudioProjections; j++)
        {
            // only term j non-zero: the residual stream equals the silent run up to block first + j - 1, then departs
            var only = torch.zeros_like(terms);
            only.narrow(1, j, 1).copy_(terms.narrow(1, j, 1));
            var h = model.forward_with_audio_terms(x, t, ctx, y, only, returnHiddenAfter: all);
            for (int b = 0; b < first + j; b++) Assert.Equal(0.0, RelErr(h.Hidden[b], none.Hidden[b]));
            Assert.True(RelErr(h.Hidden[first + j], none.Hidden[first + j]) > 1e-3, $"term {j} did not reach block {first + j}");
        }
    }

    [Fact]
    public void The_injection_adds_its_term_to_every_token_of_its_latent_frame_and_nothing_outside_its_blocks()
    {
        using var _ = torch.NewScope();
        using var g = new Generator(9);
        (int first, int last) = (2, 4);
        var (frames, hh, ww, dim) = (3, 2, 5, 6);
        var terms = torch.randn([2, last - first + 1, frames, dim], generator: g);  // [B, K, T, dim]
        var x = torch.randn([2, frames * hh * ww, dim], generator: g);              // [B, S, dim]
        var hook = new AudioInjection(terms, (first, last));
        for (int block = 0; block < 7; block++)
        {
            var added = (hook.BeforeBlock(block, x, (frames, hh, ww)) - x).view(2, frames, hh * ww, dim);
            if (block < first || block > last)
            {
                Assert.Equal(0f, added.abs().max().item<float>());                  // outside 2 .. L/2: untouched
                continue;
            }
            for (int f = 0; f < frames; f++)                                        // frame f's tokens get term[block - first, f]
                Assert.True(RelErr(added.select(1, f), terms.select(1, block - first).narrow(1, f, 1).expand(2, hh * ww, dim)) < 1e-6,
                    $"block {block}, frame {f}");
        }
        Assert.Throws<ArgumentException>(() => new AudioInjection(terms, (first, last + 1)));
    }

    [Fact]
    public void Audio_rows_pack_four_per_latent_frame()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny;
        using var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, 3, c.Wan.Dim);
        var (_, _, _, _, audio) = Inputs(c, 1, 5);
        // AudioPack packing: latent frame f ← rows 4f−3 .. 4f, frame 0 ← row 0 four times; changing rows 5..8
        // changes latent frame 2 only.
        var za = model.audio_proj.forward(audio);                                   // [1, 3, hidden]
        var audio2 = audio.clone();
        audio2.narrow(1, 5, 4).fill_(0.3);
        var zb = model.audio_proj.forward(audio2);
        Assert.Equal(0.0, RelErr(zb.narrow(1, 0, 2), za.narrow(1, 0, 2)));
        Assert.True(RelErr(zb.narrow(1, 2, 1), za.narrow(1, 2, 1)) > 1e-3);
        var manual = model.audio_proj.norm_out.forward(model.audio_proj.proj.forward(
            torch.cat([audio.narrow(1, 0, 1), audio.narrow(1, 0, 1), audio.narrow(1, 0, 1), audio.narrow(1, 0, 1)], 2)));
        Assert.True(RelErr(za.narrow(1, 0, 1), manual) < 1e-6);
    }

    [Fact]
    public void Wan_16_channel_weights_fill_the_leading_corner_of_the_33_channel_patch_embedding()
    {
        using var _ = torch.NewScope();
        var c = AvatarTestUtil.Tiny;
        using var wan = new WanModel(c.Wan with { InDim = 16 });
        Randomize(wan, 21);
        using var model = new OmniAvatarModel(c);
        AvatarTestUtil.Randomize(model, 22, c.Wan.Dim);
        var before = model.patch_embedding.weight.clone();
        var wanState = wan.state_dict();
        var bigger = new Dictionary<string, Tensor>(wanState)
        {
            ["head.head.weight"] = torch.zeros(wan.head.head.weight.size(0) + 1, c.Wan.Dim),   // checkpoint larger: skipped
            ["extra.key"] = torch.ones(3),
        };
        var headBefore = model.head.head.weight.clone();
        var report = OmniAvatarWeights.SmartLoad(model, bigger);
        log.WriteLine(report.ToString());
        Assert.Equal(["patch_embedding.weight"], report.CornerCopied);
        Assert.Equal(["head.head.weight"], report.Skipped);
        Assert.Equal(["extra.key"], report.Ignored);
        Assert.Equal(model.state_dict().Keys.Where(k => k.StartsWith("audio_")).OrderBy(k => k), report.Missing.OrderBy(k => k));
        var pw = model.patch_embedding.weight;                                       // [dim, 33, 1, 2, 2]
        Assert.Equal(0.0, RelErr(pw.narrow(1, 0, 16), wan.patch_embedding.weight));
        Assert.Equal(0.0, RelErr(pw.narrow(1, 16, 17), before.narrow(1, 16, 17)));
        Assert.Equal(0.0, RelErr(model.patch_embedding.bias!, wan.patch_embedding.bias!));
        Assert.Equal(0.0, RelErr(model.head.head.weight, headBefore));
        Assert.Equal(0.0, RelErr(model.blocks[3].ffn.state_dict()["0.weight"], wan.blocks[3].ffn.state_dict()["0.weight"]));

        // the same through a safetensors file
        using var dir = TestPaths.Temp();
        Checkpoint.Save(dir.File("wan.safetensors"), wanState);
        using var fresh = new OmniAvatarModel(c);
        var r2 = OmniAvatarWeights.LoadWanBase(fresh, [dir.File("wan.safetensors")]);
        Assert.Equal(["patch_embedding.weight"], r2.CornerCopied);
        Assert.Equal(0.0, RelErr(fresh.patch_embedding.weight.narrow(1, 0, 16), wan.patch_embedding.weight));
    }

    [Fact]
    public void Training_init_has_the_xavier_005_bounds_and_makes_the_audio_branch_an_exact_no_op()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        var c = AvatarTestUtil.Tiny;
        using var model = new OmniAvatarModel(c);
        using var g = new Generator(5);
        OmniAvatarWeights.InitForTraining(model, g);
        int d = c.Wan.Dim;
        void Bound(string name, Tensor p, double bound)
        {
            double max = p.abs().max().item<float>();
            log.WriteLine($"{name}: max |w| {max:E3}, bound {bound:E3}");
            Assert.True(max <= bound * (1 + 1e-6) && max > 0.9 * bound, name);
        }
        Bound("patch_embedding.weight", model.patch_embedding.weight, 0.05 * Math.Sqrt(6.0 / (33 * 4 + 4 * d)));
        Bound("audio_proj.proj.weight", model.audio_proj.proj.weight, 0.05 * Math.Sqrt(6.0 / (4 * c.AudioInDim + c.AudioHiddenSize)));
        Bound("audio_cond_projs.0.weight", model.audio_cond_projs[0].weight, 0.05 * Math.Sqrt(6.0 / (c.AudioHiddenSize + d)));
        foreach (var (name, p) in model.named_parameters())
            if (p.dim() == 1) Assert.Equal(0f, p.abs().max().item<float>());
        // the real 1.3B / 14B bounds (docs/omniavatar.md#overview)
        Assert.Equal(1.546e-3, 0.05 * Math.Sqrt(6.0 / (132 + 4 * 1536)), 6);
        Assert.Equal(8.53e-4, 0.05 * Math.Sqrt(6.0 / (132 + 4 * 5120)), 6);

        // base weights over the init, then audio has no effect at all (norm_out weight = bias = 0)
        using var wan = new WanModel(c.Wan with { InDim = 16 });
        Randomize(wan, 8);
        OmniAvatarWeights.SmartLoad(model, wan.state_dict());
        var (x, t, ctx, y, audio) = Inputs(c, 1, 9);
        var withAudio = model.forward(x, t, ctx, y, audio);
        var none = model.forward(x, t, ctx, y, null);
        Assert.Equal(0.0, RelErr(withAudio, none));
        Assert.True(none.abs().max().item<float>() > 0.01);
    }
}
