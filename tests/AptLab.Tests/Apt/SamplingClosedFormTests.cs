using AptLab.Apt;
using AptLab.Diffusion;
using AptLab.Torch.nn;

namespace AptLab.Tests.Apt;

/// <summary>
/// The teacher's Euler sampler with CFG and the one- and two-step generators of docs/apt.md (sections "generator" and
/// "two-step inference") against their closed forms, on a flow model whose velocity is known exactly:
/// v(x, σ, c) = a x + b σ + m(c), m(c) the mean of the sample's text context. Every step's σ is recomputed here from
/// σ_i = shift(1 - i/n, s) = s u / (1 + (s - 1) u), so a wrong schedule, guidance formula, step direction, call count
/// or mid-point time fails.
/// </summary>
public class SamplingClosedFormTests
{
    private sealed class KnownVelocity(double a, double b) : FlowModel
    {
        private readonly Module net = new Linear(1, 1);
        public int Calls;
        public readonly List<double> Sigmas = new();
        public override Module Module => net;
        public override int NumLayers => 1;
        public override int Dim => 1;
        public override int NumHeads => 1;
        public override bool GradientCheckpointing { get; set; }

        public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
        {
            Calls++;
            Sigmas.AddRange(sigma.to(ScalarType.Float64).data<double>());
            var m = c.Context.to(ScalarType.Float64).mean([1, 2]).reshape(-1, 1, 1, 1, 1);           // [B, 1, 1, 1, 1]
            var s = sigma.to(ScalarType.Float64).reshape(-1, 1, 1, 1, 1);
            return new DiTOutput(x * a + s * b + m, []);
        }

        public override FlowModel Copy() => new KnownVelocity(a, b);
    }

    private const double A = -0.3, B = 0.7;

    private static double Shift(double u, double s) => s * u / (1 + (s - 1) * u);

    // Per sample: x_{i+1} = x_i + (σ_{i+1} - σ_i) (a x_i + b σ_i + m_neg + w (m_pos - m_neg)); the velocity's x term is the
    // same in both branches, so CFG only scales the context term.
    private static double[] Expected(double[] z, double[] mPos, double[] mNeg, int perSample, int steps, double shift, double w)
    {
        var x = (double[])z.Clone();
        for (int i = 0; i < steps; i++)
        {
            double s0 = Shift(1 - (double)i / steps, shift), s1 = Shift(1 - (double)(i + 1) / steps, shift);
            for (int j = 0; j < x.Length; j++)
            {
                int n = j / perSample;
                x[j] += (s1 - s0) * (A * x[j] + B * s0 + mNeg[n] + w * (mPos[n] - mNeg[n]));
            }
        }
        return x;
    }

    private static (Tensor z, Conditioning pos, Conditioning neg, double[] mPos, double[] mNeg) Inputs()
    {
        using var g = new Generator(3);
        var z = torch.randn([2, 2, 1, 2, 2], ScalarType.Float64, generator: g);
        var pos = torch.randn([2, 3, 4], ScalarType.Float64, generator: g);
        var neg = torch.randn([2, 3, 4], ScalarType.Float64, generator: g) * 0.5;
        return (z, new Conditioning(pos), new Conditioning(neg), pos.mean([1, 2]).data<double>(), neg.mean([1, 2]).data<double>());
    }

    [Theory]
    [InlineData(4, 1.0, 3.0)]
    [InlineData(6, 5.0, 4.5)]
    [InlineData(3, 3.0, 1.0)]          // guidance 1: the positive branch alone, one call per step
    public void Euler_cfg_sampling_follows_the_closed_form(int steps, double shift, double guidance)
    {
        using var scope = torch.NewScope();
        var (z, pos, neg, mPos, mNeg) = Inputs();
        var model = new KnownVelocity(A, B);
        var x = TeacherSampler.Sample(model, z, pos, neg, steps, shift, guidance);
        var expected = Expected(z.reshape(-1).data<double>(), mPos, mNeg, 8, steps, shift, guidance);
        var actual = x.reshape(-1).data<double>();
        for (int j = 0; j < expected.Length; j++) Assert.Equal(expected[j], actual[j], 6);   // σ enters as float32
        int nfe = TeacherSampler.Nfe(steps, guidance, hasNegative: true);
        Assert.Equal(guidance == 1 ? steps : 2 * steps, nfe);
        // the batched CFG forward counts as one call of 2B samples; the samples' sigmas are the schedule's
        Assert.Equal(steps, model.Calls);
        var perCall = model.Sigmas.Chunk(model.Sigmas.Count / steps).ToList();
        for (int i = 0; i < steps; i++)
            Assert.All(perCall[i], s => Assert.Equal(Shift(1 - (double)i / steps, shift), s, 6));
    }

    [Fact]
    public void Without_a_negative_the_sampler_runs_the_conditional_branch_once_per_step()
    {
        using var scope = torch.NewScope();
        var (z, pos, _, mPos, _) = Inputs();
        var model = new KnownVelocity(A, B);
        var x = TeacherSampler.Sample(model, z, pos, null, 5, 3.0, 6.0);
        var expected = Expected(z.reshape(-1).data<double>(), mPos, mPos, 8, 5, 3.0, 6.0);
        var actual = x.reshape(-1).data<double>();
        for (int j = 0; j < expected.Length; j++) Assert.Equal(expected[j], actual[j], 6);   // σ enters as float32
        Assert.Equal(5, model.Calls);
        Assert.Equal(5, TeacherSampler.Nfe(5, 6.0, hasNegative: false));
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(5.0)]
    public void One_and_two_step_generation_follow_their_closed_forms(double shift)
    {
        using var scope = torch.NewScope();
        var (z, pos, _, mPos, _) = Inputs();
        using var g = new Generator(8);
        var eps = torch.randn(z.shape, ScalarType.Float64, generator: g);
        var model = new KnownVelocity(A, B);
        // G(z) = z - v(z, 1) = (1 - a) z - b - m
        var one = OneStepGenerator.Generate(model, z, pos).reshape(-1).data<double>();
        var two = OneStepGenerator.GenerateTwoStep(model, z, pos, eps, shift).reshape(-1).data<double>();
        double tm = Shift(0.5, shift);
        var zs = z.reshape(-1).data<double>();
        var es = eps.reshape(-1).data<double>();
        for (int j = 0; j < zs.Length; j++)
        {
            double m = mPos[j / 8];
            double g1 = (1 - A) * zs[j] - B - m;
            Assert.Equal(g1, one[j], 12);
            double mid = (1 - tm) * g1 + tm * es[j];
            Assert.Equal(mid - tm * (A * mid + B * tm + m), two[j], 6);              // t_m enters as float32
        }
        Assert.Equal(6, model.Sigmas.Count);
        Assert.All(model.Sigmas.Take(4), s => Assert.Equal(1.0, s));
        Assert.All(model.Sigmas.Skip(4), s => Assert.Equal(tm, s, 6));
    }
}
