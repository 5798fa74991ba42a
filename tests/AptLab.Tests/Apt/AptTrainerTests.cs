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

    /// <summary>Records what every forward receives: the input, the sigmas and the text context.</summary>
    private sealed class Recording(WanFlowModel inner) : FlowModel
    {
        public readonly List<double[]> Sigmas = new();
        public readonly List<(Tensor x, Tensor sigma, Tensor context)> Inputs = new();
        public WanFlowModel Inner => inner;
        public override AptLab.Torch.nn.Module Module => inner.Module;
        public override int NumLayers => inner.NumLayers;
        public override int Dim => inner.Dim;
        public override int NumHeads => inner.NumHeads;
        public override bool GradientCheckpointing { get => inner.GradientCheckpointing; set => inner.GradientCheckpointing = value; }
        private void Record(Tensor x, Tensor sigma, Conditioning c)
        {
            Sigmas.Add(sigma.to(ScalarType.Float64).data<double>());
            using var _ = torch.no_grad();
            Inputs.Add((x.detach().clone().DetachFromScope(), sigma.detach().clone().DetachFromScope(), c.Context.detach().clone().DetachFromScope()));
        }
        public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
        {
            Record(x, sigma, c);
            return inner.Forward(x, sigma, c, hiddenAfter);
        }
        public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks)
        {
            Record(x, sigma, c);
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
        // that the trainer's G step leaves D untouched and gradient-free: AptClosedFormTests
    }

    [Fact]
    public void Approximated_r1_over_std_squared_tends_to_the_squared_directional_derivative()
    {
        // docs/apt.md#approximated-r1: for small noise, (D(x) - D(x + std n))^2 = std^2 (grad_x D . n)^2 + O(std^3), so
        // the penalty is R1 up to scale. Checked on the real (tiny Wan) discriminator in float64 against autograd's
        // input gradient: the ratio converges to 1 at the rate std.
        using var _ = torch.NewScope();
        using var d = new Discriminator(Tiny(2));
        d.to(dtype: ScalarType.Float64);
        var g = new Generator(8);
        var x = torch.randn([2, 16, 1, 4, 4], ScalarType.Float64, generator: g).requires_grad_(true);
        var c = new Conditioning(torch.randn([2, 5, Cfg.TextDim], ScalarType.Float64, generator: g));
        var t = torch.rand([2], generator: g);
        var r = d.forward(x, t, c);
        var grad = Autograd.grad([r.sum()], [x])[0]!;                                     // [B, ...]: samples are independent
        var n = torch.randn(x.shape, ScalarType.Float64, generator: g);
        double directional = (grad * n).sum([1, 2, 3, 4]).square().mean().item<double>();
        Assert.True(directional > 1e-6);
        double prev = double.MaxValue;
        using var ng = torch.no_grad();
        foreach (var std in new[] { 1e-2, 1e-3, 1e-4 })
        {
            double pen = AdversarialLoss.ApproximatedPenalty(r.detach(), d.forward(x.detach() + n * std, t, c)).item<double>();
            double err = Math.Abs(pen / (std * std) / directional - 1);
            Assert.True(err < 50 * std, $"std {std}: penalty / (std^2 (grad . n)^2) - 1 = {err:E2}");
            Assert.True(err < prev, $"std {std}: no convergence ({err:E2} after {prev:E2})");
            prev = err;
        }
    }

    [Fact]
    public void Trainer_r1_pair_shares_the_timestep()
    {
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
    public void The_d_step_lowers_the_d_loss_and_the_g_step_the_g_loss_on_their_own_batches()
    {
        // Gradient flow on the real (tiny Wan) players: with a small learning rate one RMSprop step is a first-order
        // descent step, so re-evaluated on the very inputs the trainer drew (recorded), L_D falls through the D step
        // and L_G through the G step. A flipped loss, a penalty on the wrong pair or a gradient that does not reach a
        // player makes a loss rise or stay.
        using var _ = torch.NewScope();
        var recG = new Recording(Tiny(1));
        var recD = new Recording(Tiny(2));
        using var disc = new Discriminator(recD);
        var settings = new AptPhaseSettings { MicroBatch = 2, Lr = 1e-5, DiscriminatorShift = 3, R1Lambda = 100, R1Sigma = 0.01 };
        Dictionary<string, Tensor> Snapshot(AptLab.Torch.nn.Module m) => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var d0 = Snapshot(disc);
        var g0 = Snapshot(recG.Module);
        using (var trainer = new AptTrainer(recG, disc, settings, 5, Data)) trainer.Update().Dispose();
        var d1 = Snapshot(disc);
        var g1 = Snapshot(recG.Module);
        Assert.Equal(4, recD.Inputs.Count);                  // D step: real, fake, real + noise; G step: fake
        Assert.Equal(2, recG.Inputs.Count);                  // D step's fake (no grad), G step's fake
        using var ng = torch.no_grad();
        Tensor D((Tensor x, Tensor sigma, Tensor context) call, Tensor? x = null) =>
            disc.forward(x ?? call.x, call.sigma, new Conditioning(call.context));
        double LossD()
        {
            var r = D(recD.Inputs[0]);
            var loss = AdversarialLoss.Discriminator(r, D(recD.Inputs[1])) +
                       AdversarialLoss.ApproximatedPenalty(r, D(recD.Inputs[2])) * settings.R1Lambda;
            return loss.item<double>();
        }
        double LossG()
        {
            var z = recG.Inputs[1];
            var fake = OneStepGenerator.Generate(recG.Inner, z.x, new Conditioning(z.context));
            return AdversarialLoss.Generator(D(recD.Inputs[3], fake)).item<double>();
        }
        // D as trained (the G step does not touch it): G's loss before and after its step
        double gAfter = LossG();
        recG.Module.load_state_dict(g0);
        double gBefore = LossG();
        double dAfter = LossD();
        disc.load_state_dict(d0);
        double dBefore = LossD();
        Assert.True(dAfter < dBefore, $"the D step raised L_D: {dBefore} -> {dAfter}");
        Assert.True(gAfter < gBefore, $"the G step raised L_G: {gBefore} -> {gAfter}");
        Assert.True(dBefore - dAfter > 1e-7 && gBefore - gAfter > 1e-7, $"no visible descent: D {dBefore - dAfter:E2}, G {gBefore - gAfter:E2}");
        foreach (var (k, v) in d1) Assert.True(v.ne(d0[k]).any().item<bool>() || k.StartsWith("backbone.head."), $"D's {k} did not train");
        Assert.Contains(g1, kv => kv.Value.ne(g0[kv.Key]).any().item<bool>());
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
