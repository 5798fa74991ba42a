using AptLab.Diffusion;
using AptLab.Apt;
using AptLab.Wan;

namespace AptLab.Tests.Apt;

/// <summary>docs/apt.md#training-loop's unit tests and the trainer's resume guarantee, on a tiny Wan.</summary>
public class AptTrainerTests
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    private static WanFlowModel Tiny(ulong seed)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg));
        // The official init zeroes the head; give it weights so velocities are not trivially zero.
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    /// <summary>Records the sigmas every forward receives (to check the R1 pair's timesteps).</summary>
    private sealed class Recording(WanFlowModel inner) : FlowModel
    {
        public readonly List<double[]> Sigmas = new();
        public override AptLab.Torch.nn.Module Module => inner.Module;
        public override int NumLayers => inner.NumLayers;
        public override int Dim => inner.Dim;
        public override int NumHeads => inner.NumHeads;
        public override bool GradientCheckpointing { get => inner.GradientCheckpointing; set => inner.GradientCheckpointing = value; }
        public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
        {
            Sigmas.Add(sigma.to(ScalarType.Float64).data<double>());
            return inner.Forward(x, sigma, c, hiddenAfter);
        }
        public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks)
        {
            Sigmas.Add(sigma.to(ScalarType.Float64).data<double>());
            return inner.Hidden(x, sigma, c, blocks);
        }
        public override FlowModel Copy() => inner.Copy();
    }

    private static RealBatch Data(long step, int micro, Generator g)
    {
        var x = torch.randn([2, 16, 1, 4, 4], generator: g) * 0.5 + 0.3;
        var ctx = torch.randn([2, 5, Cfg.TextDim], generator: g);
        return new RealBatch(x, new Conditioning(ctx));
    }

    [Fact]
    public void Generator_is_z_minus_velocity_at_t_1_bit_exactly()
    {
        using var _ = torch.NewScope();
        using var g = Tiny(1);
        var z = torch.randn(2, 16, 1, 4, 4);
        var c = new Conditioning(torch.randn(2, 5, Cfg.TextDim));
        var v = g.Net.forward(z, torch.full([2], 1000.0), c.Context);
        Assert.Equal((z - v).data<float>(), OneStepGenerator.Generate(g, z, c).data<float>());
    }

    [Fact]
    public void Discriminator_gives_one_logit_per_sample_and_passes_gradient_to_a_frozen_path()
    {
        using var _ = torch.NewScope();
        using var gen = Tiny(1);
        using var d = new Discriminator(Tiny(2));
        Assert.Equal(new[] { 0, 1, 2 }, d.Layers);                   // 3 blocks: 16/26/36 of 36 -> 1.33, 2.17, 3
        var c = new Conditioning(torch.randn(3, 5, Cfg.TextDim));
        var z = torch.randn(3, 16, 1, 4, 4);
        var logits = d.forward(OneStepGenerator.Generate(gen, z, c), torch.rand(3), c);
        Assert.Equal(new long[] { 3 }, logits.shape);
        // Generator step: D frozen, the loss still reaches G's parameters (bug E1 would give zero).
        d.requires_grad_(false);
        AdversarialLoss.Generator(logits).backward();
        Assert.True(AptTrainer.GradNorm(gen.Module.parameters()) > 0);
        Assert.All(d.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Approximated_r1_vanishes_with_the_noise_and_uses_the_same_t_for_both_branches()
    {
        using var _ = torch.NewScope();
        using var d = new Discriminator(Tiny(2));
        var x = torch.randn(2, 16, 1, 4, 4);
        var c = new Conditioning(torch.randn(2, 5, Cfg.TextDim));
        var t = torch.rand(2);
        var r = d.forward(x, t, c);
        var n = torch.randn(x.shape);
        double prev = double.MaxValue;
        foreach (var std in new[] { 1e-1, 1e-2, 1e-3, 0.0 })
        {
            double pen = AdversarialLoss.ApproximatedPenalty(r, d.forward(x + n * std, t, c)).item<double>();
            Assert.True(pen < prev || pen == 0);
            prev = pen;
        }
        Assert.Equal(0, prev);

        // In the trainer, D(x) and D(x + n) see identical timesteps: forwards 1 (real) and 3 (perturbed real).
        var rec = new Recording(Tiny(2));
        using var disc = new Discriminator(rec);
        using var gen = Tiny(1);
        using var trainer = new AptTrainer(gen, disc, new AptPhaseSettings { MicroBatch = 2, DiscriminatorShift = 3 }, 5, Data);
        trainer.Update().Dispose();
        Assert.Equal(rec.Sigmas[0], rec.Sigmas[2]);
        Assert.NotEqual(rec.Sigmas[0], rec.Sigmas[1]);                      // fakes draw their own t
        Assert.All(rec.Sigmas.SelectMany(s => s), s => Assert.InRange(s, 0, 1));
    }

    [Fact]
    public void Updates_train_both_players_and_a_resumed_run_matches_an_uninterrupted_one()
    {
        var settings = new AptPhaseSettings { MicroBatch = 2, Accumulation = 2, LrGenerator = 1e-3, LrDiscriminator = 1e-3, EmaDecay = 0.9 };
        double[] Run(int stopAt, string? checkpoint)
        {
            using var gen = Tiny(1);
            using var disc = new Discriminator(Tiny(2));
            using var trainer = new AptTrainer(gen, disc, settings, seed: 9, Data);
            var losses = new List<double>();
            if (checkpoint is not null)
            {
                using var state = AptLab.Torch.IO.Checkpoint.Load(checkpoint);
                trainer.LoadStateDict(state, int.Parse(state.Metadata["step"]), checkpoint);
            }
            var before = gen.Net.blocks[0].self_attn.q.weight.clone();
            while (trainer.Step < stopAt)
            {
                using var stats = trainer.Update();
                Assert.True(double.IsFinite(stats.LossD) && double.IsFinite(stats.LossG));
                Assert.True(stats.GradNormG > 0 && stats.GradNormD > 0);
                losses.Add(stats.LossD);
                losses.Add(stats.LossG);
            }
            Assert.True((gen.Net.blocks[0].self_attn.q.weight - before).abs().max().item<double>() > 0);
            if (checkpoint is null && stopAt == 2)
                AptLab.Torch.IO.Checkpoint.Save(Path.Combine(tmp!.Path, "ck.safetensors"), trainer.StateDict(),
                    new Dictionary<string, string> { ["step"] = trainer.Step.ToString() });
            return losses.ToArray();
        }
        using var dir = TestPaths.Temp();
        tmp = dir;
        var full = Run(4, null);
        var first = Run(2, null);
        var resumed = Run(4, Path.Combine(dir.Path, "ck.safetensors"));
        Assert.Equal(full.Take(4), first);
        for (int i = 0; i < 4; i++) Assert.Equal(full[4 + i], resumed[i], 6);
    }

    private TempDir? tmp;
}
