using AptLab.Apt;
using static AptLab.Tests.Avatar.Apt.AvatarAptTestUtil;
using AptLab.Avatar.Apt;
using AptLab.Torch.nn;

namespace AptLab.Tests.Avatar.Apt;

/// <summary>The OmniAvatar DiT behind APT's FlowModel interface, against OmniAvatarModel itself.</summary>
public class OmniAvatarFlowModelTests
{
    [Fact]
    public void Velocity_is_the_dit_at_1000_sigma_bit_exactly()
    {
        using var _ = torch.NewScope();
        using var m = Model(1);
        using var g = new Generator(2);
        var c = Cond(g, 2, 3);
        var x = Latents(g, 2, 3);
        var sigma = torch.tensor(new[] { 0.3f, 0.85f }, 2);
        var expected = m.Net.forward(x, sigma * 1000.0, c.Context, c.Y!, c.Audio);
        Assert.Equal(expected.data<float>(), m.Velocity(x, sigma, c).data<float>());
    }

    [Fact]
    public void Generator_is_z_minus_the_dit_at_t_1000_bit_exactly()
    {
        using var _ = torch.NewScope();
        using var m = Model(1);
        using var g = new Generator(3);
        var c = Cond(g, 2, 2);
        var z = torch.randn([2, 16, 2, 4, 4], generator: g);
        var v = m.Net.forward(z, torch.full([2], 1000.0), c.Context, c.Y!, c.Audio);
        Assert.Equal((z - v).data<float>(), OneStepGenerator.Generate(m, z, c).data<float>());
    }

    [Fact]
    public void Hidden_states_stopping_early_equal_those_of_the_full_forward()
    {
        using var _ = torch.NewScope();
        using var m = Model(1);
        using var g = new Generator(4);
        var c = Cond(g, 2, 3);
        var x = Latents(g, 2, 3);
        var sigma = torch.tensor(new[] { 0.1f, 0.6f }, 2);
        int[] blocks = [1, 3];                               // 3 of 6: the early stop skips blocks 4 and 5
        var full = m.Forward(x, sigma, c, blocks);
        var early = m.Hidden(x, sigma, c, blocks);
        Assert.Equal(2, early.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(new long[] { 2, 3 * 2 * 2, Cfg.Wan.Dim }, early[i].shape);   // [B, F h/2 w/2, dim]
            Assert.Equal(full.Hidden[i].data<float>(), early[i].data<float>());
        }
        // the hidden states differ from block to block (the list is not one tensor twice)
        Assert.True((early[0] - early[1]).abs().max().item<float>() > 1e-3f);
    }

    [Fact]
    public void Copy_folds_unmerged_lora_into_an_independent_full_model()
    {
        using var _ = torch.NewScope();
        using var m = Model(5);
        using var lg = new Generator(6);
        var lora = Lora.Inject(m.Net, new LoraConfig(Rank: 4, Alpha: 2, InitLoraWeights: "random"), lg);   // B != 0: not a no-op
        using var g = new Generator(7);
        var c = Cond(g, 1, 2);
        var x = Latents(g, 1, 2);
        var sigma = torch.tensor(new[] { 0.7f }, 1);
        var vTeacher = m.Velocity(x, sigma, c);
        using var copy = (OmniAvatarFlowModel)m.Copy();
        Assert.DoesNotContain(copy.Net.state_dict().Keys, Lora.IsLoraKey);
        Assert.Equal(m.Net.state_dict().Keys.Count(k => !Lora.IsLoraKey(k)), copy.Net.state_dict().Count);
        var vCopy = copy.Velocity(x, sigma, c);
        lora.Merge();                                        // (unmerging would not restore W bit-exactly: merge last)
        var vMerged = m.Velocity(x, sigma, c);
        lora.Unmerge();
        vTeacher = m.Velocity(x, sigma, c);
        // the copy is the merged model: bit-equal to merging in place, and the LoRA model up to float rounding
        Assert.Equal(vMerged.data<float>(), vCopy.data<float>());
        double rel = ((vCopy - vTeacher).norm().item<float>() / vTeacher.norm().item<float>());
        Assert.True(rel < 1e-5, $"relative error {rel}");
        double loraEffect = (vTeacher - WithoutLora(m, lora, x, sigma, c)).norm().item<float>() / vTeacher.norm().item<float>();
        Assert.True(loraEffect > 1e-3, $"the LoRA must change the output for this test to mean anything ({loraEffect})");
        // independent storage
        using (torch.no_grad()) copy.Net.blocks[0].self_attn.q.weight.add_(1.0);
        Assert.Equal(vTeacher.data<float>(), m.Velocity(x, sigma, c).data<float>());
    }

    private static Tensor WithoutLora(OmniAvatarFlowModel m, Lora lora, Tensor x, Tensor sigma, Conditioning c)
    {
        foreach (var a in lora.Adapters.Values) a.Enabled = false;
        var v = m.Velocity(x, sigma, c);
        foreach (var a in lora.Adapters.Values) a.Enabled = true;
        return v;
    }

    [Fact]
    public void Cfg_negative_is_the_negative_prompt_with_zero_audio_and_the_same_y()
    {
        using var _ = torch.NewScope();
        using var m = Model(1);
        using var g = new Generator(8);
        var c = Cond(g, 2, 2);
        var negCtx = torch.randn([1, 3, Cfg.Wan.TextDim], generator: g);
        var neg = OmniAvatarFlowModel.Negative(c, negCtx);
        Assert.Same(c.Y, neg.Y);
        Assert.Equal(0f, neg.Audio!.abs().max().item<float>());
        Assert.Equal(c.Audio!.shape, neg.Audio.shape);
        var x = Latents(g, 2, 2);
        var sigma = torch.tensor(new[] { 0.4f, 0.9f }, 2);
        const double w = 4.5;
        var t = sigma * 1000.0;
        var vPos = m.Net.forward(x, t, c.Context, c.Y!, c.Audio);
        var vNeg = m.Net.forward(x, t, negCtx.expand(2, 3, Cfg.Wan.TextDim), c.Y!, torch.zeros_like(c.Audio));
        var expected = vNeg + (vPos - vNeg) * w;
        var got = ConsistencyDistillation.CfgVelocity(m, x, sigma, c, neg, w);
        double rel = (got - expected).norm().item<float>() / expected.norm().item<float>();
        Assert.True(rel < 1e-5, $"relative error {rel}");
        // zero audio is not "no audio": the audio branch still adds its biases (docs/omniavatar.md#sampling)
        var vNoBranch = m.Net.forward(x, t, negCtx.expand(2, 3, Cfg.Wan.TextDim), c.Y!, null);
        Assert.True((vNeg - vNoBranch).abs().max().item<float>() > 1e-4f);
    }

    [Fact]
    public void Student_output_depends_on_the_audio()
    {
        using var _ = torch.NewScope();
        using var m = Model(1);
        using var student = m.Copy();
        using var g = new Generator(9);
        var c = Cond(g, 1, 3);
        var z = torch.randn([1, 16, 3, 4, 4], generator: g);
        var a = OneStepGenerator.Generate(student, z, c);
        var b = OneStepGenerator.Generate(student, z, c with { Audio = torch.randn(c.Audio!.shape, generator: g) });
        var same = OneStepGenerator.Generate(student, z, c with { Audio = c.Audio.clone() });
        Assert.Equal(a.data<float>(), same.data<float>());
        Assert.True((a - b).abs().max().item<float>() > 1e-3f);
        // frame 0's audio (rows 0) reaches every latent frame's tokens only through attention; the frames after the
        // first receive their own rows: changing only the last 4 rows changes the last frame most
        var late = c.Audio.clone();
        late.narrow(1, 5, 4).normal_(0, 1, g);
        var d = OneStepGenerator.Generate(student, z, c with { Audio = late }) - a;
        Assert.True(d.narrow(2, 2, 1).abs().mean().item<float>() > d.narrow(2, 0, 1).abs().mean().item<float>());
    }
}
