using AptLab.Apt;
using AptLab.Diffusion;

namespace AptLab.Tests.Apt;

public class AptPartsTests
{
    [Fact]
    public void Shift_fixes_endpoints_and_is_monotone()
    {
        foreach (var s in new[] { 1.0, 5, 12, 24 })
        {
            Assert.Equal(0, FlowMatch.Shift(0, s));
            Assert.Equal(1, FlowMatch.Shift(1, s), 15);
            double prev = -1;
            for (int i = 0; i <= 100; i++)
            {
                double v = FlowMatch.Shift(i / 100.0, s);
                Assert.True(v > prev);
                prev = v;
            }
        }
        Assert.Equal(12 * 0.5 / (1 + 11 * 0.5), FlowMatch.Shift(0.5, 12), 15);
        Assert.Throws<ArgumentOutOfRangeException>(() => FlowMatch.Shift(999, 12));   // bug E3
        using var _ = torch.NewScope();
        TensorAssert.Close(new[] { 0.0, 5 * 0.25 / (1 + 4 * 0.25), 1 }, FlowMatch.Shift(torch.tensor(new double[] { 0, 0.25, 1 }), 5), atol: 1e-12);
    }

    [Fact]
    public void Gan_losses_are_softplus_forms()
    {
        using var _ = torch.NewScope();
        var r = torch.tensor(new double[] { 2, -1 });
        var f = torch.tensor(new double[] { 0.5, -3 });
        static double Sp(double x) => Math.Log(1 + Math.Exp(x));
        Assert.Equal((Sp(-2) + Sp(1)) / 2 + (Sp(0.5) + Sp(-3)) / 2, AdversarialLoss.Discriminator(r, f).item<double>(), 12);
        Assert.Equal((Sp(-0.5) + Sp(3)) / 2, AdversarialLoss.Generator(f).item<double>(), 12);
        // Stable where log(sigmoid(x) + 1e-8) is not: a very confident fake logit.
        Assert.Equal(1000, AdversarialLoss.Generator(torch.tensor(new double[] { -1000 })).item<double>(), 9);
        Assert.Equal((0.25 + 4) / 2, AdversarialLoss.ApproximatedPenalty(torch.tensor(new double[] { 1, 0 }), torch.tensor(new double[] { 1.5, 2 })).item<double>(), 12);
        Assert.Equal(0.1, AdversarialLoss.NoiseStd(0.01, R1NoiseReading.Variance), 12);
        Assert.Equal(0.01, AdversarialLoss.NoiseStd(0.01, R1NoiseReading.Std), 12);
    }

    [Fact]
    public void Head_layers_are_proportional_to_16_26_36()
    {
        Assert.Equal(new[] { 15, 25, 35 }, DiscriminatorReadout.DefaultLayers(36));
        Assert.Equal(new[] { 12, 21, 29 }, DiscriminatorReadout.DefaultLayers(30));
        Assert.Equal(new[] { 17, 28, 39 }, DiscriminatorReadout.DefaultLayers(40));
    }

    [Fact]
    public void Readout_gives_one_logit_per_sample_and_ignores_padding()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(0);
        using var readout = new DiscriminatorReadout(dim: 32, numHeads: 4, count: 3);
        var h = Enumerable.Range(0, 3).Select(_ => torch.randn(2, 10, 32)).ToArray();
        var mask = torch.arange(10).unsqueeze(0).lt(torch.tensor(new long[] { 10, 6 }).unsqueeze(1));   // sample 1 has 6 tokens
        var logits = readout.forward(h, mask);
        Assert.Equal(new long[] { 2 }, logits.shape);
        // Changing the padded tokens of sample 1 leaves its logit unchanged; changing a real token does not.
        var h2 = h.Select(x => x.clone()).ToArray();
        foreach (var x in h2) x[1].narrow(0, 6, 4).normal_(0, 10);
        TensorAssert.Close(logits, readout.forward(h2, mask), atol: 1e-6);
        foreach (var x in h2) x[1].narrow(0, 0, 1).normal_(0, 10);
        Assert.True((readout.forward(h2, mask) - logits).abs()[1].item<double>() > 1e-4);
        // Equal to running sample 1 alone on its 6 real tokens without a mask.
        var alone = readout.forward(h.Select(x => x.narrow(0, 1, 1).narrow(1, 0, 6)).ToArray(), null);
        Assert.Equal(logits[1].item<double>(), alone[0].item<double>(), 5);
    }
}
