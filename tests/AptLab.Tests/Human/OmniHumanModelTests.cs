using System.Text.Json;
using AptLab.Human;
using AptLab.Torch.IO;
using AptLab.Wan;
using Xunit.Abstractions;
using static AptLab.Tests.Human.HumanTestUtil;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Human;

/// <summary>The OmniHuman DiT's rules (docs/omnihuman.md#model), each against what it must equal.</summary>
public class OmniHumanModelTests(ITestOutputHelper log)
{
    /// <summary>The Wan reference case (every shape and setting from its JSON and safetensors) through the OmniHuman
    /// model: Wan's weights loaded into the widened model, the added parts at their init. With no condition, and with
    /// audio and pose given (their zero-initialised output projection / patch channels), the output is Wan's.
    /// Catches: new patch channels not zero, a non-zero audio output projection, a changed token pipeline.</summary>
    [Fact]
    public void Wan_reference_case_is_reproduced_with_conditions_off_and_with_zero_initialised_parts_present()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        const string name = "wan_dit_t2v";
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.ReferenceFile(name + ".json")));
        var wanCfg = WanConfig.FromJson(doc.RootElement.GetProperty("config"), name + ".json");
        using var model = new OmniHumanModel(OmniHumanConfig.FromWan(wanCfg), generator: new Generator(3));
        var report = OmniHumanWeights.LoadWanBase(model, [TestPaths.ReferenceFile(name + ".weights.safetensors")]);
        Assert.Equal(["patch_embedding.weight"], report.CornerCopied);
        Assert.All(report.Missing, k => Assert.True(OmniHumanWeights.IsAdded(k), k));
        model.eval();
        using var io = Checkpoint.Load(TestPaths.ReferenceFile(name + ".io.safetensors"));
        var x = io["x"].unsqueeze(0);                                                   // [1, C, F, H, W]
        var expected = io["out"].unsqueeze(0);
        var plain = model.Forward(x, io["t"], io["context"].unsqueeze(0), HumanConditions.None).Output;
        double err = RelErr(plain, expected);
        log.WriteLine($"conditions off: rel err {err:E2}");
        Assert.True(err < 1e-4, $"conditions off: relative error {err:E3}");

        var cfg = model.config;
        long f = x.size(2), video = cfg.VaeTemporal * (f - 1) + 1;
        using var g = new Generator(4);
        var present = new HumanConditions
        {
            Audio = torch.randn([1, video, cfg.AudioTokensPerFrame, cfg.AudioInDim], generator: g),
            Pose = torch.rand([1, cfg.PoseHeatmapChannels, video, x.size(3) * cfg.VaeSpatial, x.size(4) * cfg.VaeSpatial], generator: g),
        };
        var withParts = model.Forward(x, io["t"], io["context"].unsqueeze(0), present).Output;
        Assert.True(RelErr(withParts, expected) < 1e-4, $"zero-initialised audio / pose present: {RelErr(withParts, expected):E3}");
        // the test can fail: a non-zero output projection of one block's audio attention changes the output
        using (torch.no_grad()) model.audio_cross_attn[0].o.weight.normal_(0, 0.1, g);
        var moved = model.Forward(x, io["t"], io["context"].unsqueeze(0), present).Output;
        Assert.True(RelErr(moved, expected) > 1e-3);
    }

    /// <summary>The reference tokens' RoPE rows: identity in every temporal pair, the (h, w) rows of a frame-0 grid token
    /// spatially; motion tokens at frames -M .. -1 (rotated). Catches a reference at a non-zero temporal index or with
    /// shifted spatial positions.</summary>
    [Fact]
    public void Reference_tokens_have_no_temporal_rotation_and_grid_spatial_positions()
    {
        using var _ = torch.NewScope();
        var cfg = OmniHumanConfig.Tiny(TextDim, TextLen, AudioDim);
        var grid = (F: 3, H: 2, W: 3);
        int hw = grid.H * grid.W, motion = cfg.MotionLatentFrames;
        var (pf, ph, pw) = OmniHumanTokens.Positions(grid, reference: true, motionFrames: motion);
        Assert.Equal(hw * (1 + motion), pf.Length);
        var rows = WanRope.Positions(cfg.Wan.HeadDim, pf, ph, pw, ScalarType.Float64, Device.CPU).squeeze(0).squeeze(1);   // [E, d/2] complex
        var table = WanRope.Table(cfg.Wan.HeadDim, [grid], hw * grid.F, ScalarType.Float64, Device.CPU).squeeze(0).squeeze(1);   // [L, d/2]
        int cf = cfg.Wan.RopePairs.F;
        var re = rows.view_as_real();                                                    // [E, d/2, 2]
        var reference = re.narrow(0, 0, hw).narrow(1, 0, cf);                            // temporal pairs of the reference tokens
        Assert.Equal(0.0, MaxAbs(reference.select(2, 0), torch.ones(hw, cf).to(ScalarType.Float64)));
        Assert.Equal(0.0, MaxAbs(reference.select(2, 1), torch.zeros(hw, cf).to(ScalarType.Float64)));
        // every pair of a reference token equals the same (h, w) token of latent frame 0 (whose temporal angle is 0 too)
        Assert.True(MaxAbs(re.narrow(0, 0, hw), table.view_as_real().narrow(0, 0, hw)) < 1e-12);
        // motion frame m sits at temporal index m - M: its temporal pairs rotate by (m - M) θ_j
        var theta = WanRope.AxisFrequencies(cf);
        for (int m = 0; m < motion; m++)
        {
            var angle = Math.Atan2(re[hw * (1 + m)][1][1].item<double>(), re[hw * (1 + m)][1][0].item<double>());
            Assert.Equal((m - motion) * theta[1], angle, 12);
        }
    }

    /// <summary>The reference is read: moving (rolling) the reference latent changes the velocity; a batch sample whose
    /// reference is switched off equals the forward without any reference (masked keys = absent tokens).</summary>
    [Fact]
    public void Moving_the_reference_changes_the_output_and_a_switched_off_reference_equals_none()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var m = Tiny(5);
        var (x, t, ctx, c) = Inputs(m, 2, 2, 4, 4, 6);
        var refOnly = new HumanConditions { Reference = c.Reference };
        var a = m.Forward(x, t, ctx, refOnly).Output;
        var moved = m.Forward(x, t, ctx, refOnly with { Reference = c.Reference!.roll(2, 4) }).Output;
        Assert.True(RelErr(moved, a) > 1e-3, $"{RelErr(moved, a)}");
        var none = m.Forward(x, t, ctx, HumanConditions.None).Output;
        var half = m.Forward(x, t, ctx, refOnly with { ReferenceOn = torch.tensor(new float[] { 1, 0 }) }).Output;
        Assert.True(MaxAbs(half.narrow(0, 0, 1), a.narrow(0, 0, 1)) < 1e-5);
        Assert.True(MaxAbs(half.narrow(0, 1, 1), none.narrow(0, 1, 1)) < 1e-5);
        Assert.True(RelErr(none.narrow(0, 1, 1), a.narrow(0, 1, 1)) > 1e-3);               // the reference mattered
        Assert.Equal(x.shape, a.shape);                                                     // the head reads the video tokens only
    }

    /// <summary>Frame-wise audio attention: perturbing the windows of latent frame 2's video frames changes only frame 2's
    /// tokens after one block (frames 0 and 1 exactly unchanged), perturbing frame 0's changes frame 0. A full
    /// (unmasked) cross-attention would move every frame. Switching audio off for a sample equals no audio.</summary>
    [Fact]
    public void Audio_attention_is_block_diagonal_over_latent_frames()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var m = Tiny(7);
        int frames = 3, h = 4, w = 4, hw = h / m.wanConfig.PatchSize.H * (w / m.wanConfig.PatchSize.W);
        var (x, t, ctx, c) = Inputs(m, 1, frames, h, w, 8);
        var audioOnly = new HumanConditions { Audio = c.Audio };
        var baseHidden = m.Forward(x, t, ctx, audioOnly, returnHiddenAfter: [0]).Hidden[0];   // [1, F·hw, dim]
        int vt = m.config.VaeTemporal;
        var perturbed = c.Audio!.clone();
        perturbed.narrow(1, vt * 2 - 3, vt).add_(torch.randn(perturbed.narrow(1, vt * 2 - 3, vt).shape) * 3.0);   // video frames of latent frame 2
        var h2 = m.Forward(x, t, ctx, audioOnly with { Audio = perturbed }, returnHiddenAfter: [0]).Hidden[0];
        Assert.Equal(0.0, MaxAbs(h2.narrow(1, 0, 2 * hw), baseHidden.narrow(1, 0, 2 * hw)));
        Assert.True(MaxAbs(h2.narrow(1, 2 * hw, hw), baseHidden.narrow(1, 2 * hw, hw)) > 1e-3);
        var p0 = c.Audio!.clone();
        p0.narrow(1, 0, 1).add_(1.0);
        var h0 = m.Forward(x, t, ctx, audioOnly with { Audio = p0 }, returnHiddenAfter: [0]).Hidden[0];
        Assert.True(MaxAbs(h0.narrow(1, 0, hw), baseHidden.narrow(1, 0, hw)) > 1e-3);
        Assert.Equal(0.0, MaxAbs(h0.narrow(1, hw, 2 * hw), baseHidden.narrow(1, hw, 2 * hw)));
        // audio switched off for the sample = no audio branch at all
        var off = m.Forward(x, t, ctx, audioOnly with { AudioOn = torch.zeros(1) }).Output;
        var none = m.Forward(x, t, ctx, HumanConditions.None).Output;
        Assert.Equal(0.0, MaxAbs(off, none));
    }

    /// <summary>The audio window of video frame i is frames i - n .. i + n of the track, clamped at its ends.</summary>
    [Fact]
    public void Audio_windows_gather_clamped_neighbours()
    {
        using var _ = torch.NewScope();
        var track = torch.arange(7, ScalarType.Float32).view(7, 1);                        // row k holds k
        var win = AptLab.Human.Audio.AudioWindows.Gather(track, 4, 3, 2);                 // frames 4, 5, 6
        Assert.Equal(new long[] { 1, 3, 5, 1 }, win.shape);
        Assert.Equal(new float[] { 2, 3, 4, 5, 6, 3, 4, 5, 6, 6, 4, 5, 6, 6, 6 }, win.flatten().data<float>());
        var first = AptLab.Human.Audio.AudioWindows.Gather(track, 0, 1, 1);
        Assert.Equal(new float[] { 0, 0, 1 }, first.flatten().data<float>());
    }

    /// <summary>Gradient checkpointing (the audio tokens recomputed inside each block) gives the gradients of the plain
    /// forward, audio_proj included. Catches audio_proj losing its gradients or a second backward through it.</summary>
    [Fact]
    public void Gradient_checkpointing_gives_the_same_gradients_for_every_added_part()
    {
        using var _ = torch.NewScope();
        using var m = Tiny(9);
        m.train();
        var (x, t, ctx, c) = Inputs(m, 2, 2, 2, 2, 10);
        c = c with { ReferenceOn = torch.tensor(new float[] { 1, 0 }), AudioOn = torch.tensor(new float[] { 0, 1 }) };
        Dictionary<string, Tensor> Grads(bool checkpoint)
        {
            m.GradientCheckpointing = checkpoint;
            foreach (var p in m.parameters()) p.grad = null;
            m.Forward(x, t, ctx, c).Output.square().mean().backward();
            return m.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        }
        var plain = Grads(false);
        var ckpt = Grads(true);
        Assert.Equal(plain.Keys.OrderBy(k => k), ckpt.Keys.OrderBy(k => k));
        foreach (var key in new[] { "audio_proj.0.weight", "audio_slot_embedding", "audio_cross_attn.1.o.weight", "pose_guider.proj.weight", "patch_embedding.weight" })
        {
            Assert.True(plain.ContainsKey(key), key);
            Assert.True(plain[key].abs().max().item<float>() > 0, key);
        }
        foreach (var (k, g) in plain) Assert.True(RelErr(ckpt[k], g) < 1e-5, $"{k}: {RelErr(ckpt[k], g)}");
    }

    /// <summary>Pose features: the guider maps 1 + 4k heatmap frames at pixel resolution to k + 1 latent frames at the
    /// latent grid; the neighbour stacking is (f - 1, f, f + 1) clamped; a switched-off pose gives zeros.</summary>
    [Fact]
    public void Pose_guider_reaches_the_latent_grid_and_stacks_neighbours()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var m = Tiny(11);
        var (x, t, ctx, c) = Inputs(m, 2, 3, 4, 2, 12);
        var g = m.pose_guider.forward(c.Pose!);
        Assert.Equal(new long[] { 2, m.config.PoseChannels, 3, 4, 2 }, g.shape);
        var f = torch.arange(3, ScalarType.Float32).view(1, 1, 3, 1, 1).expand(1, 2, 3, 1, 1);
        var n = PoseGuider.Neighbours(f, 1);                                             // channels: prev(2), cur(2), next(2)
        Assert.Equal(new float[] { 0, 0, 1, 0, 0, 1, 0, 1, 2, 0, 1, 2, 1, 2, 2, 1, 2, 2 }, n.flatten().data<float>());
        var feats = m.PoseFeatures(c with { PoseOn = torch.tensor(new float[] { 1, 0 }) }, x);
        Assert.Equal(new long[] { 2, m.config.PoseInputChannels, 3, 4, 2 }, feats.shape);
        Assert.Equal(0.0, feats.narrow(0, 1, 1).abs().max().item<float>());
        Assert.True(feats.narrow(0, 0, 1).abs().max().item<float>() > 0);
        var on = m.Forward(x, t, ctx, c).Output;
        var off = m.Forward(x, t, ctx, c with { Pose = null }).Output;
        Assert.True(RelErr(on, off) > 1e-3);                                              // pose reaches the velocity
    }

    /// <summary>The guider runs on the rows whose pose is on only: the features and the guider's gradients equal those
    /// of the whole batch through the guider times the switch (a fractional switch scales its row), and with every row
    /// off the features are zero. Catches a row placed at the wrong index, a dropped scale, a lost gradient.</summary>
    [Fact]
    public void Pose_guider_on_the_switched_on_rows_equals_the_whole_batch_times_the_switch()
    {
        using var _ = torch.NewScope();
        using var m = Tiny(13);
        m.train();
        var (x, _, _, c) = Inputs(m, 4, 2, 2, 2, 14);
        var on = torch.tensor(new float[] { 0, 1, 0, 0.5f });
        using var gw = new Generator(15);
        var weight = torch.randn([4, m.config.PoseInputChannels, 2, 2, 2], generator: gw);
        (Tensor feats, Dictionary<string, Tensor> grads) Run(Func<Tensor> features)
        {
            foreach (var p in m.parameters()) p.grad = null;
            var f = features();
            (f * weight).sum().backward();
            return (f.detach(), m.pose_guider.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
        }
        var (got, gotGrads) = Run(() => m.PoseFeatures(c with { PoseOn = on }, x));
        var (want, wantGrads) = Run(() => PoseGuider.Neighbours(m.pose_guider.forward(c.Pose!), m.config.PoseNeighbours) * on.view(4, 1, 1, 1, 1));
        Assert.True(MaxAbs(got, want) < 1e-6, $"{MaxAbs(got, want)}");
        Assert.Equal(0.0, got.narrow(0, 0, 1).abs().max().item<float>());
        Assert.True(got.narrow(0, 3, 1).abs().max().item<float>() > 0);
        foreach (var (k, g) in wantGrads)
        {
            Assert.True(g.abs().max().item<float>() > 0, k);
            Assert.True(RelErr(gotGrads[k], g) < 1e-5, $"{k}: {RelErr(gotGrads[k], g)}");
        }
        using var ng = torch.no_grad();
        Assert.Equal(0.0, m.PoseFeatures(c with { PoseOn = torch.zeros(4) }, x).abs().max().item<float>());
    }

    /// <summary>The model's default heatmap channel count is what Pose/PoseHeatmaps draws (the root folder does not use
    /// Pose/, so the number is written twice and pinned here).</summary>
    [Fact]
    public void Default_heatmap_channels_are_the_rendered_ones() =>
        Assert.Equal(AptLab.Human.Pose.PoseHeatmaps.Channels, new OmniHumanConfig().PoseHeatmapChannels);

    /// <summary>The release sizes on the meta device: the added parameters equal the formula (patch widening, audio MLP +
    /// slot embedding, one audio cross-attention per block, pose guider), and the Wan part equals Wan 2.1's count.</summary>
    [Theory]
    [InlineData("1.3b")]
    [InlineData("14b")]
    public void Release_sizes_have_the_added_parameters_of_the_formula(string size)
    {
        var cfg = size == "14b" ? OmniHumanConfig.OmniHuman_14B : OmniHumanConfig.OmniHuman_1_3B;
        using var m = new OmniHumanModel(cfg, ScalarType.BFloat16, Device.Meta);
        using var wan = new WanModel(size == "14b" ? WanConfig.T2V_14B : WanConfig.T2V_1_3B, ScalarType.BFloat16, Device.Meta);
        long added = m.named_parameters().Where(p => OmniHumanWeights.IsAdded(p.name)).Sum(p => p.parameter.numel());
        Assert.Equal(cfg.AddedParameters - cfg.PatchWideningParameters, added);
        Assert.Equal(wan.num_parameters() + cfg.AddedParameters, m.num_parameters());
        Assert.Equal(new long[] { cfg.Wan.Dim, 16 + cfg.PoseInputChannels, 1, 2, 2 }, m.patch_embedding.weight.shape);
        Assert.Equal(cfg.Wan.NumLayers, m.audio_cross_attn.Count);
        log.WriteLine($"{size}: Wan {wan.num_parameters():N0} + OmniHuman {cfg.AddedParameters:N0} parameters");
    }

    /// <summary>The OmniHuman file round-trips the function, LoRA folded in, the architecture from the metadata.</summary>
    [Fact]
    public void Weights_file_round_trips_with_lora_folded_in()
    {
        using var _ = torch.NewScope();
        using var ng = torch.no_grad();
        using var m = Tiny(13);
        using var g = new Generator(14);
        AptLab.Torch.nn.Lora.Inject(m, new AptLab.Torch.nn.LoraConfig(2, 4, InitLoraWeights: "random"), g);
        var (x, t, ctx, c) = Inputs(m, 1, 2, 2, 2, 15);
        var expected = m.Forward(x, t, ctx, c).Output;
        using var dir = TestPaths.Temp();
        OmniHumanWeights.Save(dir.File("h.safetensors"), m);
        using var back = OmniHumanWeights.Load(dir.File("h.safetensors"));
        Assert.Equal(m.config.PoseGuiderWidths, back.config.PoseGuiderWidths);
        Assert.DoesNotContain(back.state_dict().Keys, AptLab.Torch.nn.Lora.IsLoraKey);
        Assert.True(RelErr(back.Forward(x, t, ctx, c).Output, expected) < 1e-5);
        var bad = Assert.Throws<InvalidDataException>(() => OmniHumanWeights.Load(TestPaths.ReferenceFile("wan_dit_t2v.weights.safetensors")));
        Assert.Contains("omnihuman_config", bad.Message);
    }
}
