using AptLab.Apt;
using AptLab.Diffusion;
using AptLab.Torch.nn;

namespace AptLab.Tests.Apt;

/// <summary>
/// A flow model with hand-set weights whose velocity is affine in x: v(x, sigma, c) = a x + b (a, b scalars), so the
/// APT generator is G(z) = z - v(z, 1) = (1 - a) z - b. float64 (the exact mode of the fp32 policy).
/// </summary>
internal sealed class AffineFlow : FlowModel
{
    public sealed class Net : Module
    {
        public readonly Parameter a, b;
        public Net(double a0, double b0)
        {
            a = RegisterParameter("a", torch.tensor(new[] { a0 }));
            b = RegisterParameter("b", torch.tensor(new[] { b0 }));
        }
    }

    public readonly Net net;
    public AffineFlow(double a, double b) => net = new Net(a, b);

    public override Module Module => net;
    public override int NumLayers => 1;
    public override int Dim => 4;
    public override int NumHeads => 1;
    public override bool GradientCheckpointing { get; set; }

    public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
    {
        var hidden = (hiddenAfter ?? []).Select(_ => x.flatten(2).transpose(1, 2)).ToArray();   // unused by the tests
        return new DiTOutput(x * net.a + net.b, hidden);
    }

    public override FlowModel Copy() => new AffineFlow(net.a.item<double>(), net.b.item<double>());
}

/// <summary>
/// A discriminator whose logit is linear: D(x, t) = sum(w * x) + k t + beta per sample (w shaped like one sample), so the
/// D loss, the approximated R1/R2, the G loss and all their gradients have closed forms. It records every call: the
/// input, the timesteps and whether its parameters required gradient at that moment (the generator step must run it
/// frozen). The production backbone and heads exist (the trainer needs a <see cref="Discriminator"/>) but are unused.
/// </summary>
internal sealed class LinearLogitDiscriminator : Discriminator
{
    public readonly Parameter w, k, beta;
    public readonly List<(Tensor x, Tensor t, bool requiresGrad)> Calls = new();

    public LinearLogitDiscriminator(long[] sampleShape, Generator g, double k0, double beta0) : base(new AffineFlow(0, 0), [0])
    {
        w = RegisterParameter("w", torch.randn([1, .. sampleShape], ScalarType.Float64, generator: g) * 0.3);
        k = RegisterParameter("k", torch.tensor(new[] { k0 }));
        beta = RegisterParameter("beta", torch.tensor(new[] { beta0 }));
    }

    public override Tensor forward(Tensor x, Tensor sigma, Conditioning c)
    {
        using (torch.no_grad())
            Calls.Add((x.detach().clone().DetachFromScope(), sigma.detach().to(ScalarType.Float64).clone().DetachFromScope(), w.requires_grad));
        var dims = Enumerable.Range(1, x.shape.Length - 1).Select(i => (long)i).ToArray();
        return (x * w).sum(dims) + k * sigma.to(ScalarType.Float64) + beta;                   // [B]
    }

    /// <summary>D(x, t) with given weights, in float64.</summary>
    public static double[] Logits(Tensor x, Tensor t, Tensor w, double k, double beta)
    {
        using var scope = torch.NewScope();
        var dims = Enumerable.Range(1, x.shape.Length - 1).Select(i => (long)i).ToArray();
        return ((x * w).sum(dims) + t * k + beta).data<double>();
    }

    public void ClearCalls()
    {
        foreach (var (x, t, _) in Calls) { x.Dispose(); t.Dispose(); }
        Calls.Clear();
    }
}
