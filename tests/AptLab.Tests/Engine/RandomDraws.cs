using AptLab.Apt;
using AptLab.Diffusion;
using AptLab.Wan;

namespace AptLab.Tests.Engine;

/// <summary>
/// Every kind of seeded draw the trainers make, from fixed seeds: the engine's creation functions and in-place fills,
/// the APT helpers (BatchShard, TimestepShift), the weight initialisation, one consistency-distillation loss and two
/// APT updates on a tiny Wan. Fixtures/rng_draws.json holds the values the code produced BEFORE draws were routed
/// through the CPU generator (recorded from commit 0ca751b); <see cref="DeviceSafeRandomnessTests"/> checks that the
/// current code reproduces them to the bit on CPU.
/// </summary>
public static class RandomDraws
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    /// <summary>name -> values (float32 values widened exactly to double).</summary>
    public static SortedDictionary<string, double[]> Compute()
    {
        var d = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        using var scope = torch.NewScope();
        static double[] V(Tensor t) => t.to(ScalarType.Float64).reshape(-1).data<double>();

        using (var g = new Generator(11)) d["randn_f32"] = V(torch.randn([6], ScalarType.Float32, generator: g));
        using (var g = new Generator(12)) d["rand_f32"] = V(torch.rand([6], ScalarType.Float32, generator: g));
        using (var g = new Generator(13)) d["randint"] = V(torch.randint(0, 1000, [6], generator: g));
        using (var g = new Generator(14)) d["randperm"] = V(torch.randperm(9, g));
        using (var g = new Generator(15)) d["randn_bf16"] = V(torch.randn([6], ScalarType.BFloat16, generator: g));
        using (var g = new Generator(16)) d["randn_f64"] = V(torch.randn([4], ScalarType.Float64, generator: g));
        using (var g = new Generator(17)) d["randn_like"] = V(torch.randn_like(torch.zeros(2, 3), g));
        using (var g = new Generator(18)) d["rand_like"] = V(torch.rand_like(torch.zeros(2, 3), g));
        using (var g = new Generator(19)) d["normal_"] = V(torch.empty(6).normal_(0.5, 2, g));
        using (var g = new Generator(20)) d["uniform_"] = V(torch.empty(6).uniform_(-3, 1, g));
        using (var g = new Generator(21)) d["bernoulli_"] = V(torch.empty(12).bernoulli_(0.3, g));
        using (var g = new Generator(22))
        {
            // a stream of mixed draws, then the generator's state: the draws consumed the same amount of it
            torch.randn([3, 5], ScalarType.Float32, generator: g);
            torch.rand([7], ScalarType.Float32, generator: g);
            torch.randint(0, 5, [4], generator: g);
            d["stream_next"] = V(torch.randn([3], ScalarType.Float32, generator: g));
            d["stream_state_sum"] = [g.get_state().to(ScalarType.Float64).sum().item<double>()];
        }
        using (var g = new Generator(23))
        {
            var shard = new BatchShard(1, 2);
            d["shard_randn"] = V(shard.Randn(torch.zeros(2, 3), g));
            d["shard_timesteps"] = V(shard.Timesteps(3, 5.0, g, Device.CPU));
            d["timestep_shift"] = V(FlowMatch.SampleSigmas(4, 3.0, g, Device.CPU));
        }
        using (var g = new Generator(24))
        {
            torch.manual_seed(0);                                   // the conv bias is drawn from the global generator
            using var m = new WanModel(Cfg, generator: g);
            d["init_wan"] = m.named_parameters().Select(p => p.parameter.to(ScalarType.Float64).sum().item<double>()).ToArray();
        }

        // one CD loss (teacher and student from the global seed, the draws from g)
        using (var g = new Generator(25))
        {
            using var teacher = Tiny(1);
            using var student = Tiny(2);
            var x0 = torch.randn([2, 16, 1, 4, 4], generator: g);
            var c = new Conditioning(torch.randn([2, 5, Cfg.TextDim], generator: g));
            var neg = new Conditioning(torch.zeros(2, 5, Cfg.TextDim));
            var (loss, steps) = ConsistencyDistillation.Loss(student, teacher, x0, c, neg, new CdSettings { Steps = 8, Shift = 3 }, g);
            d["cd_loss"] = [loss.item<double>()];
            d["cd_steps"] = V(steps);
        }

        // two APT updates (R1 and R2 on: every draw of the loop), the discriminator's heads drawn from a generator
        {
            using var gen = Tiny(3);
            using var disc = new Discriminator(Tiny(4), [0, 2]);
            using (var g = new Generator(26)) disc.ResetReadout(g);
            var settings = new AptPhaseSettings { MicroBatch = 2, Accumulation = 2, Lr = 1e-3, EmaDecay = 0.9, DiscriminatorShift = 3, R2Lambda = 10 };
            using var trainer = new AptTrainer(gen, disc, settings, seed: 27, Data);
            var rows = new List<double>();
            for (int k = 0; k < 2; k++)
            {
                using var s = trainer.Update();
                rows.AddRange([s.LossD, s.LossG, s.R1, s.R2, s.RealLogit, s.FakeLogit, s.GradNormD, s.GradNormG]);
            }
            d["apt_updates"] = rows.ToArray();
            d["apt_generator_sums"] = gen.Module.named_parameters().Select(p => p.parameter.to(ScalarType.Float64).sum().item<double>()).ToArray();
        }
        return d;
    }

    private static WanFlowModel Tiny(ulong seed)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg));
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    private static RealBatch Data(long step, int micro, Generator g)
    {
        var x = torch.randn([2, 16, 1, 4, 4], generator: g) * 0.5 + 0.3;
        var ctx = torch.randn([2, 5, Cfg.TextDim], generator: g);
        return new RealBatch(x, new Conditioning(ctx));
    }
}
