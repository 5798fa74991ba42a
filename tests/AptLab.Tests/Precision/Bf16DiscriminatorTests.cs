using AptLab.Apt;
using AptLab.Wan;
using AptLab.Tests.Avatar.Apt;
using AptLab.Training;

namespace AptLab.Tests.Precision;

/// <summary>
/// The APT discriminator in bf16: Wan keeps its residual stream (what the heads read) as a float32 island, so heads
/// built in bf16 used to fail with "mat1 and mat2 must have the same dtype". The heads now cast their input to their
/// own dtype and the read-out ends in float32: forward and backward run in pure bf16 and under bf16-mixed, for a Wan
/// and an OmniAvatar backbone, and follow the float32 discriminator within bf16's rounding.
/// </summary>
public class Bf16DiscriminatorTests
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 3, TextLen = 8 };

    private static WanFlowModel TinyWan(ulong seed)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg));
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    private static (Tensor x, Tensor t, Conditioning c) Inputs(long b = 3)
    {
        using var g = new Generator(11);
        return (torch.randn([b, 16, 1, 4, 4], generator: g), torch.rand([b], generator: g), new Conditioning(torch.randn([b, 5, Cfg.TextDim], generator: g)));
    }

    // logits [B] and the gradient of sum(logits) w.r.t. every parameter (float64, by name)
    private static (double[] logits, Dictionary<string, Tensor> grads) Run(Discriminator d, Tensor x, Tensor t, Conditioning c, Func<Dictionary<string, Tensor>> grads)
    {
        var logits = d.forward(x, t, c);
        Assert.Equal(new[] { x.size(0) }, logits.shape);
        logits.sum().backward();
        return (logits.to(ScalarType.Float64).data<double>(), grads());
    }

    private static double Cosine(Tensor a, Tensor b)
    {
        using var scope = torch.NewScope();
        var x = a.to(ScalarType.Float64).reshape(-1);
        var y = b.to(ScalarType.Float64).reshape(-1);
        return (x * y).sum().item<double>() / Math.Max(x.norm().item<double>() * y.norm().item<double>(), 1e-30);
    }

    [Fact]
    public void A_tiny_wan_discriminator_runs_forward_and_backward_in_bf16_and_bf16_mixed_close_to_float32()
    {
        using var scope = torch.NewScope();
        var (x, t, c) = Inputs();
        using var d32 = new Discriminator(TinyWan(2));
        var (l32, g32) = Run(d32, x, t, c, () => d32.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!));                   // the backbone's own head is unused
        Assert.True(g32.Count > 40);
        Assert.All(l32, v => Assert.True(double.IsFinite(v)));

        // pure bf16: the backbone built in bf16 (heads too), the same weights
        var bb = new WanFlowModel(new WanModel(Cfg, ScalarType.BFloat16));
        using var d16 = new Discriminator(bb);
        d16.load_state_dict(d32.state_dict());
        Assert.Equal(ScalarType.BFloat16, d16.readout.heads[0].q.weight.dtype);
        var logits16 = d16.forward(x, t, c);
        Assert.Equal(ScalarType.Float32, logits16.dtype);                          // the read-out is a float32 island
        logits16.sum().backward();
        var l16 = logits16.to(ScalarType.Float64).data<double>();

        // bf16-mixed: float32 masters, bf16 compute copies
        using var dm = new Discriminator(TinyWan(2));
        dm.load_state_dict(d32.state_dict());
        using var mixed = new ReplicatedModule(dm, AptLab.Training.Precision.Bf16Mixed);
        Assert.Equal(ScalarType.BFloat16, dm.readout.proj.weight.dtype);
        var (lm, gm) = Run(dm, x, t, c, () =>
        {
            mixed.post_backward();
            return mixed.named_parameters().ToDictionary(p => p.name, p => p.tensor.grad!);
        });

        double scale = l32.Max(Math.Abs);
        for (int i = 0; i < l32.Length; i++)
        {
            Assert.True(Math.Abs(l16[i] - l32[i]) < 0.05 * scale + 0.02, $"bf16 logit {i}: {l16[i]} vs float32 {l32[i]}");
            Assert.True(Math.Abs(lm[i] - l32[i]) < 0.05 * scale + 0.02, $"bf16-mixed logit {i}: {lm[i]} vs float32 {l32[i]}");
        }
        // every parameter gets a float32 master gradient pointing where the float32 one does
        foreach (var (name, g) in g32)
        {
            var m = gm[name];
            Assert.Equal(ScalarType.Float32, m.dtype);
            if (g.norm().item<double>() < 1e-6) continue;
            Assert.True(Cosine(g, m) > 0.97, $"{name}: bf16-mixed gradient has cosine {Cosine(g, m):F4} with the float32 one");
            var p16 = d16.named_parameters().First(p => p.name == name).parameter;
            Assert.True(Cosine(g, p16.grad!) > 0.97, $"{name}: bf16 gradient has cosine {Cosine(g, p16.grad!):F4} with the float32 one");
        }
    }

    [Fact]
    public void A_tiny_omniavatar_discriminator_runs_forward_and_backward_in_bf16_and_bf16_mixed()
    {
        using var scope = torch.NewScope();
        using var g = new Generator(3);
        var c = AvatarAptTestUtil.Cond(g, 2, 2);
        var x = AvatarAptTestUtil.Latents(g, 2, 2);
        var t = torch.rand([2], generator: g);
        using var d32 = new Discriminator(AvatarAptTestUtil.Model(4));
        var l32 = d32.forward(x, t, c).to(ScalarType.Float64).data<double>();

        foreach (var precision in new[] { AptLab.Training.Precision.Bf16, AptLab.Training.Precision.Bf16Mixed })
        {
            using var d = new Discriminator(AvatarAptTestUtil.Model(4));
            d.load_state_dict(d32.state_dict());                                 // the same read-out heads
            using var wrapped = new ReplicatedModule(d, precision);
            Assert.Equal(ScalarType.BFloat16, d.readout.heads[0].k.weight.dtype);
            var logits = d.forward(x, t, c);
            Assert.Equal(ScalarType.Float32, logits.dtype);
            wrapped.backward(logits.sum());
            var l = logits.to(ScalarType.Float64).data<double>();
            for (int i = 0; i < l.Length; i++)
                Assert.True(Math.Abs(l[i] - l32[i]) < 0.05 * l32.Max(Math.Abs) + 0.02, $"{precision} logit {i}: {l[i]} vs {l32[i]}");
            var grads = wrapped.parameters().Select(p => p.grad).Where(gr => gr is not null).ToList();
            Assert.True(grads.Count > 40);
            Assert.True(wrapped.grad_norm() > 0 && double.IsFinite(wrapped.grad_norm()));
            Assert.Equal(precision == AptLab.Training.Precision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32, grads[0]!.dtype);
        }
    }
}
