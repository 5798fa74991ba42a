using AptLab.Apt;
using AptLab.Config;
using AptLab.Experiments;

namespace AptLab.Tests.Apt;

/// <summary>
/// One <see cref="AptTrainer.Update"/> against its closed form (docs/apt.md#training-loop), in the fp32 policy on one
/// process: a generator G(z) = (1 - a) z - b and a discriminator D(x, t) = sum(w x) + k t + beta with hand-set weights.
/// The trainer's random stream is replayed from the state the data callback sees, so the test knows which data, which
/// noise z, which timesteps t and which R1/R2 noise went into which call, and derives the D loss, the penalties, the G
/// loss, the gradients (read back from RMSprop's state: square_avg = (1 - alpha) g^2 after one step), the updated
/// weights and the EMA from the formulas of docs/apt.md alone.
/// </summary>
public class AptClosedFormTests
{
    private static readonly long[] Sample = [2, 1, 3, 2];                 // one latent [C, F, H, W]
    private const int Batch = 5;
    private const double A0 = 0.3, B0 = -0.2, K0 = 0.7, Beta0 = 0.1;

    private static double Sp(double x) => x > 30 ? x : Math.Log(1 + Math.Exp(x));
    private static double Sig(double x) => 1 / (1 + Math.Exp(-x));
    private static double Shift(double u, double s) => s * u / (1 + (s - 1) * u);
    private static double Mean(IEnumerable<double> v) => v.Average();

    /// <summary>What one update consumed and produced, for the closed form.</summary>
    private sealed record Run(AptTrainer.UpdateStats Stats, List<(Tensor x, Tensor rngState)> Data, LinearLogitDiscriminator D,
        AffineFlow G, AptTrainer Trainer, double[] W0) : IDisposable
    {
        public void Dispose()
        {
            Stats.Dispose();
            Trainer.Dispose();
            D.ClearCalls();
            D.Dispose();
            G.Dispose();
            foreach (var (x, s) in Data) { x.Dispose(); s.Dispose(); }
        }
    }

    private static Run Update(AptPhaseSettings settings)
    {
        var data = new List<(Tensor, Tensor)>();
        var g = new AffineFlow(A0, B0);
        LinearLogitDiscriminator d;
        using (var init = new Generator(11)) d = new LinearLogitDiscriminator(Sample, init, K0, Beta0);
        var w0 = d.w.detach().to(ScalarType.Float64).data<double>();
        RealBatch Data(long step, int micro, Generator rng)
        {
            var x = torch.randn([Batch, .. Sample], ScalarType.Float64, generator: rng) * 0.5 + 0.3;
            data.Add((x.clone().DetachFromScope(), rng.get_state().DetachFromScope()));
            return new RealBatch(x, new Conditioning(torch.zeros([Batch, 1, 1], ScalarType.Float64)));
        }
        var trainer = new AptTrainer(g, d, settings, seed: 3, Data);
        return new Run(trainer.Update(), data, d, g, trainer, w0);
    }

    /// <summary>The expected values of one update from docs/apt.md, given the draws (replayed from the stream).</summary>
    private static void CheckAgainstClosedForm(Run run, AptPhaseSettings expected)
    {
        using var scope = torch.NewScope();
        int acc = expected.Accumulation;
        double s = expected.DiscriminatorShift, lambda = expected.R1Lambda, lambda2 = expected.R2Lambda;
        double r1Std = expected.R1Reading == R1NoiseReading.Variance ? Math.Sqrt(expected.R1Sigma) : expected.R1Sigma;
        double r2Std = expected.R1Reading == R1NoiseReading.Variance ? Math.Sqrt(expected.R2Sigma) : expected.R2Sigma;
        Assert.Equal(2 * acc, run.Data.Count);                                // D step: acc micro-batches, then G step: acc
        var w0 = torch.tensor(run.W0, [1, .. Sample]);
        var calls = run.D.Calls;
        int perMicro = 2 + (lambda > 0 ? 1 : 0) + (lambda2 > 0 ? 1 : 0);       // r, f, (r~), (f~)
        Assert.Equal(acc * perMicro + acc, calls.Count);

        // ---- D step, micro-batch m: z, u_r, u_f, R1 noise, (R2 noise), drawn after the data in this order ----
        double lossD = 0, r1Sum = 0, r2Sum = 0;
        var gw = torch.zeros([1, .. Sample], ScalarType.Float64);
        double gk = 0, gbeta = 0;
        var realLogits = new List<double>();
        var fakeLogits = new List<double>();
        for (int m = 0; m < acc; m++)
        {
            var (x, state) = run.Data[m];
            using var rng = new Generator(0);
            rng.set_state(state);
            var z = torch.randn(x.shape, ScalarType.Float64, generator: rng);
            var ur = torch.rand([Batch], generator: rng).to(ScalarType.Float64).data<double>();
            var uf = torch.rand([Batch], generator: rng).to(ScalarType.Float64).data<double>();
            var n = lambda > 0 ? torch.randn(x.shape, ScalarType.Float64, generator: rng) * r1Std : torch.zeros_like(x);
            var n2 = lambda2 > 0 ? torch.randn(x.shape, ScalarType.Float64, generator: rng) * r2Std : torch.zeros_like(x);
            var tr = ur.Select(u => Shift(u, s)).ToArray();
            var tf = uf.Select(u => Shift(u, s)).ToArray();
            int i1 = lambda > 0 ? 2 : -1, i2 = lambda2 > 0 ? perMicro - 1 : -1;
            var fake = z * (1 - A0) - B0;                                           // G(z) = z - v(z, 1) = (1 - a) z - b

            // which input and which t went into which call (docs/apt.md#approximated-r1: real data, the same t_r)
            var c = calls.Skip(m * perMicro).Take(perMicro).ToArray();
            TensorAssert.Close(x, c[0].x, atol: 1e-12);
            TensorAssert.Close(fake, c[1].x, atol: 1e-12);
            Assert.Equal(tr, c[0].t.data<double>(), new Tol(1e-6));                  // t = shift(u, s) (float32 in the trainer)
            Assert.Equal(tf, c[1].t.data<double>(), new Tol(1e-6));
            (tr, tf) = (c[0].t.data<double>(), c[1].t.data<double>());                // then the exact values the logits saw
            if (i1 > 0)
            {
                TensorAssert.Close(x + n, c[i1].x, atol: 1e-12);
                Assert.Equal(tr, c[i1].t.data<double>());                            // bit-identical t for the R1 pair
            }
            Assert.All(c, call => Assert.True(call.requiresGrad, "D must train in its own step"));

            var r = LinearLogitDiscriminator.Logits(x, torch.tensor(tr), w0, K0, Beta0);
            var f = LinearLogitDiscriminator.Logits(fake, torch.tensor(tf), w0, K0, Beta0);
            var rn = LinearLogitDiscriminator.Logits(x + n, torch.tensor(tr), w0, K0, Beta0);
            double r1 = Mean(r.Zip(rn, (a, b) => (a - b) * (a - b)));
            double[] fn = f;
            double r2 = 0;
            if (lambda2 > 0)
            {
                TensorAssert.Close(fake + n2, c[i2].x, atol: 1e-12);
                Assert.Equal(tf, c[i2].t.data<double>());
                fn = LinearLogitDiscriminator.Logits(fake + n2, torch.tensor(tf), w0, K0, Beta0);
                r2 = Mean(f.Zip(fn, (a, b) => (a - b) * (a - b)));
            }
            lossD += Mean(r.Select(v => Sp(-v))) + Mean(f.Select(Sp)) + lambda * r1 + lambda2 * r2;
            r1Sum += r1;
            r2Sum += r2;
            realLogits.AddRange(r);
            fakeLogits.AddRange(f);

            // dL_D/dw = mean(-sig(-r) x) + mean(sig(f) G(z)) + lambda mean(2 (r - r~)(-n)) + lambda2 mean(2 (f - f~)(-n2))
            var cr = torch.tensor(r.Select(v => -Sig(-v) / Batch).ToArray()).view(Batch, 1, 1, 1, 1);
            var cf = torch.tensor(f.Select(v => Sig(v) / Batch).ToArray()).view(Batch, 1, 1, 1, 1);
            var c1 = torch.tensor(r.Zip(rn, (a, b) => -2 * lambda * (a - b) / Batch).ToArray()).view(Batch, 1, 1, 1, 1);
            var c2 = torch.tensor(f.Zip(fn, (a, b) => -2 * lambda2 * (a - b) / Batch).ToArray()).view(Batch, 1, 1, 1, 1);
            gw = gw + ((cr * x).sum(0, keepdim: true) + (cf * fake).sum(0, keepdim: true) + (c1 * n).sum(0, keepdim: true)
                       + (c2 * n2).sum(0, keepdim: true)) / acc;
            gk += (Mean(r.Zip(tr, (v, t) => -Sig(-v) * t)) + Mean(f.Zip(tf, (v, t) => Sig(v) * t))) / acc;
            gbeta += (Mean(r.Select(v => -Sig(-v))) + Mean(f.Select(Sig))) / acc;
        }
        var st = run.Stats;
        Assert.Equal(lossD / acc, st.LossD, 1e-9);
        Assert.Equal(r1Sum / acc, st.R1, 1e-9);
        Assert.Equal(r2Sum / acc, st.R2, 1e-9);
        Assert.Equal(realLogits.ToArray(), st.RealLogits.data<double>(), new Tol(1e-9));
        Assert.Equal(fakeLogits.ToArray(), st.FakeLogits.data<double>(), new Tol(1e-9));

        // RMSprop(alpha, eps, lr_D) from zero state: square_avg = (1 - alpha) g^2, p -= lr g / (sqrt(square_avg) + eps)
        double alpha = expected.RmsAlpha, eps = expected.RmsEps;
        Tensor Stepped(Tensor p, Tensor grad, double lr) => p - grad * lr / ((grad.square() * (1 - alpha)).sqrt() + eps);
        var opt = run.Trainer.OptD;
        TensorAssert.Close(gw.square() * (1 - alpha), opt.StateOf(run.D.w)!["square_avg"], rtol: 1e-9, atol: 1e-15);
        Assert.Equal((1 - alpha) * gk * gk, opt.StateOf(run.D.k)!["square_avg"].item<double>(), 1e-12);
        Assert.Equal((1 - alpha) * gbeta * gbeta, opt.StateOf(run.D.beta)!["square_avg"].item<double>(), 1e-12);
        var w1 = Stepped(w0, gw, expected.LrDiscriminator);
        double k1 = Stepped(torch.tensor(new[] { K0 }), torch.tensor(new[] { gk }), expected.LrDiscriminator).item<double>();
        double b1 = Stepped(torch.tensor(new[] { Beta0 }), torch.tensor(new[] { gbeta }), expected.LrDiscriminator).item<double>();
        // the G step leaves D as its own step left it (frozen: no gradient reaches it, nothing steps it)
        TensorAssert.Close(w1, run.D.w, rtol: 1e-12, atol: 1e-15);
        Assert.Equal(k1, run.D.k.item<double>(), 1e-14);
        Assert.Equal(b1, run.D.beta.item<double>(), 1e-14);
        Assert.All(run.D.parameters(), p => Assert.Null(p.grad));

        // ---- G step, micro-batch m: z', u drawn after the data; D (after its step) frozen but differentiated through ----
        double lossG = 0, ga = 0, gb = 0;
        double sumW1 = w1.sum().item<double>();
        for (int m = 0; m < acc; m++)
        {
            var (x, state) = run.Data[acc + m];
            using var rng = new Generator(0);
            rng.set_state(state);
            var z = torch.randn(x.shape, ScalarType.Float64, generator: rng);
            var t = torch.rand([Batch], generator: rng).to(ScalarType.Float64).data<double>().Select(u => Shift(u, s)).ToArray();
            var fake = z * (1 - A0) - B0;
            var call = calls[acc * perMicro + m];
            TensorAssert.Close(fake, call.x, atol: 1e-12);
            Assert.Equal(t, call.t.data<double>(), new Tol(1e-6));                    // t = shift(u, s), as in the D step
            t = call.t.data<double>();
            Assert.False(call.requiresGrad, "the generator step must run D with requires_grad off");
            var f = LinearLogitDiscriminator.Logits(fake, torch.tensor(t), w1, k1, b1);
            lossG += Mean(f.Select(v => Sp(-v))) / acc;                                 // L_G = mean softplus(-f)
            var wz = (z * w1).sum([1, 2, 3, 4]).data<double>();
            // df/da = -sum(w z), df/db = -sum(w): dL_G/da = mean(sig(-f) sum(w z)), dL_G/db = mean(sig(-f) sum(w))
            ga += Mean(f.Zip(wz, (v, q) => Sig(-v) * q)) / acc;
            gb += Mean(f.Select(v => Sig(-v) * sumW1)) / acc;
        }
        Assert.Equal(lossG, st.LossG, 1e-9);
        var optG = run.Trainer.OptG;
        Assert.Equal((1 - alpha) * ga * ga, optG.StateOf(run.G.net.a)!["square_avg"].item<double>(), 1e-12);
        Assert.Equal((1 - alpha) * gb * gb, optG.StateOf(run.G.net.b)!["square_avg"].item<double>(), 1e-12);
        double a1 = A0 - expected.LrGenerator * ga / (Math.Sqrt((1 - alpha) * ga * ga) + eps);
        double bb1 = B0 - expected.LrGenerator * gb / (Math.Sqrt((1 - alpha) * gb * gb) + eps);
        Assert.Equal(a1, run.G.net.a.item<double>(), 1e-14);
        Assert.Equal(bb1, run.G.net.b.item<double>(), 1e-14);

        // ---- EMA of G: ema = decay ema + (1 - decay) G, from the initial weights ----
        var ema = run.Trainer.Ema.named_shadows().ToDictionary(e => e.name, e => e.shadow.item<double>());
        double decay = expected.EmaDecay;
        Assert.Equal(decay * A0 + (1 - decay) * a1, ema["a"], 1e-14);
        Assert.Equal(decay * B0 + (1 - decay) * bb1, ema["b"], 1e-14);
    }

    private sealed class Tol(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tol * Math.Max(1, Math.Abs(y));
        public int GetHashCode(double obj) => 0;
    }

    public static IEnumerable<object[]> Settings() =>
    [
        // the paper's image phase (variance reading: std = sqrt 0.01 = 0.1), with an EMA decay other than the default
        [new AptPhaseSettings { MicroBatch = Batch, LrGenerator = 1e-2, LrDiscriminator = 3e-2, EmaDecay = 0.9, DiscriminatorShift = 1 }],
        // the video phase's shift 12 and sigma 0.1, two micro-batches, and the R2 term on generated samples
        [new AptPhaseSettings { MicroBatch = Batch, Accumulation = 2, Lr = 2e-2, EmaDecay = 0.8, DiscriminatorShift = 12, R1Sigma = 0.1,
            R1Lambda = 10, R2Lambda = 30, R2Sigma = 0.05, RmsAlpha = 0.7 }],
        // the std reading (public re-implementations' sigma), no R1
        [new AptPhaseSettings { MicroBatch = Batch, Lr = 1e-2, EmaDecay = 0.5, DiscriminatorShift = 3, R1Reading = R1NoiseReading.Std,
            R1Sigma = 0.2 }],
        [new AptPhaseSettings { MicroBatch = Batch, Lr = 1e-2, DiscriminatorShift = 5, R1Lambda = 0 }],
    ];

    [Theory]
    [MemberData(nameof(Settings))]
    public void One_update_equals_its_closed_form(AptPhaseSettings settings)
    {
        using var run = Update(settings);
        CheckAgainstClosedForm(run, settings);
    }

    [Fact]
    public void Every_apt_setting_of_a_yaml_config_reaches_the_trainer()
    {
        // Values unlike every default, written as YAML, bound by ExperimentConfig, run through AptTrainer, and checked
        // against the closed form with the literal values below (not with the bound settings).
        using var dir = TestPaths.Temp();
        var yaml = $"""
            base: {Path.Combine(TestPaths.Repo, "configs", "demo.yaml")}
            apt:
              image:
                micro_batch: {Batch}
                accumulation: 2
                lr_generator: 0.013
                lr_discriminator: 0.021
                rms_alpha: 0.8
                rms_eps: 1.0e-3
                ema_decay: 0.85
                discriminator_shift: 7
                r1_lambda: 20
                r1_sigma: 0.04
                r1_reading: std
                r2_lambda: 15
                r2_sigma: 0.09
            """;
        File.WriteAllText(dir.File("apt.yaml"), yaml);
        var cfg = ConfigLoader.Load<ExperimentConfig>(dir.File("apt.yaml"));
        var literal = new AptPhaseSettings
        {
            MicroBatch = Batch, Accumulation = 2, LrGenerator = 0.013, LrDiscriminator = 0.021, RmsAlpha = 0.8, RmsEps = 1e-3,
            EmaDecay = 0.85, DiscriminatorShift = 7, R1Lambda = 20, R1Sigma = 0.04, R1Reading = R1NoiseReading.Std, R2Lambda = 15,
            R2Sigma = 0.09,
        };
        using var run = Update(cfg.Apt.Image);
        CheckAgainstClosedForm(run, literal);
    }
}
