using AptLab.Apt;
using AptLab.Torch.optim;
using static AptLab.Tests.Avatar.Apt.AvatarAptTestUtil;
using AptLab.Avatar.Apt;

namespace AptLab.Tests.Avatar.Apt;

/// <summary>Consistency distillation and APT updates with a tiny random OmniAvatar teacher.</summary>
public class AvatarAptTrainingTests
{
    [Fact]
    public void Consistency_distillation_steps_have_finite_losses_and_move_the_student()
    {
        using var _ = torch.NewScope();
        using var teacher = Model(1);
        teacher.Module.requires_grad_(false);
        using var student = teacher.Copy();
        var before = student.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var opt = new AdamW(student.Module.parameters(), lr: 1e-3, weight_decay: 0.01);
        using var g = new Generator(11);
        var s = new CdSettings { Steps = 8, Shift = 5, Guidance = 4.5 };
        for (int step = 0; step < 3; step++)
        {
            using var scope = torch.NewScope();
            var c = Cond(g, 2, 2);
            var neg = OmniAvatarFlowModel.Negative(c, torch.zeros([1, 3, Cfg.Wan.TextDim]));
            var (loss, n) = ConsistencyDistillation.Loss(student, teacher, Latents(g, 2, 2), c, neg, s, g);
            double l = loss.item<double>();
            Assert.True(double.IsFinite(l) && l > 0, $"CD loss {l}");
            loss.backward();
            Assert.True(AptTrainer.GradNorm(student.Module.named_parameters().Where(p => IsAudioParameter(p.name)).Select(p => p.parameter)) > 0);
            opt.step();
            opt.zero_grad();
        }
        var after = student.Module.state_dict();
        Assert.Contains(before, kv => !kv.Value.allclose(after[kv.Key], 0, 0));
        Assert.All(teacher.Module.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Generator_step_reaches_the_audio_modules_through_the_frozen_discriminator_and_leaves_it_unchanged()
    {
        using var _ = torch.NewScope();
        using var teacher = Model(1);
        using var gen = teacher.Copy();
        using var d = new Discriminator(teacher.Copy());
        Assert.Equal(new[] { 2, 4, 6 }, d.Layers);                  // 7 blocks: 16/26/36 of 7 -> 3.11, 5.06, 7, rounded, 0-indexed
        var dBefore = d.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var opt = new RMSprop(gen.Module.parameters(), lr: 1e-3, alpha: 0.9);
        using var g = new Generator(12);
        var c = Cond(g, 2, 3);
        var z = torch.randn([2, 16, 3, 4, 4], generator: g);
        d.requires_grad_(false);
        var fake = OneStepGenerator.Generate(gen, z, c);
        var loss = AdversarialLoss.Generator(d.forward(fake, torch.rand([2], generator: g), c));
        loss.backward();
        foreach (var (name, p) in gen.Module.named_parameters().Where(p => IsAudioParameter(p.name)))
            Assert.True(p.grad is { } gr && gr.abs().max().item<float>() > 0, $"no gradient reached generator parameter {name}");
        Assert.All(d.parameters(), p => Assert.Null(p.grad));
        opt.step();
        foreach (var (k, v) in d.state_dict()) Assert.True(v.allclose(dBefore[k], 0, 0), $"discriminator tensor {k} changed in the generator step");
    }

    [Theory]
    [InlineData("image", 1, 1.0, 0.01)]        // F = 1 latent frame, 1 audio row
    [InlineData("video", 3, 12.0, 0.1)]        // 3 latent frames, 9 audio rows
    public void Apt_updates_run_with_finite_losses(string phase, int frames, double shift, double r1Sigma)
    {
        using var _ = torch.NewScope();
        using var teacher = Model(1);
        var settings = new AptPhaseSettings
        {
            Name = phase, Updates = 2, MicroBatch = 2, Accumulation = 2, LrGenerator = 1e-4, LrDiscriminator = 1e-4,
            DiscriminatorShift = shift, R1Sigma = r1Sigma, R2Lambda = 1,
        };
        RealBatch Data(long step, int micro, Generator g)
        {
            var c = Cond(g, 2, frames);
            if (frames == 1) c = c with { Y = torch.cat([c.Y!.narrow(1, 0, 16), torch.ones([2, 1, 1, 4, 4])], 1) };   // image: the frame is generated
            return new RealBatch(Latents(g, 2, frames), c);
        }
        var gen = teacher.Copy();
        var d = new Discriminator(teacher.Copy());
        var genBefore = gen.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var trainer = new AptTrainer(gen, d, settings, seed: 5, Data);
        for (int i = 0; i < 2; i++)
        {
            using var scope = torch.NewScope();
            using var st = trainer.Update();
            foreach (var (k, v) in st.Scalars(phase))
                Assert.True(double.IsFinite(v), $"{k} = {v} after update {i}");
            Assert.True(st.GradNormG > 0 && st.GradNormD > 0, $"gradient norms G {st.GradNormG}, D {st.GradNormD}");
            Assert.True(st.R1 > 0 && st.R2 > 0);
            Assert.Equal(new long[] { 4 }, st.RealLogits.shape);    // micro-batch 2 x accumulation 2
        }
        Assert.Equal(2, trainer.Step);
        var after = gen.Module.state_dict();
        Assert.Contains(genBefore, kv => IsAudioParameter(kv.Key) && !kv.Value.allclose(after[kv.Key], 0, 0));
        gen.Dispose();
        d.Dispose();
    }
}
