using AptLab.Torch.optim;

namespace AptLab.Tests.Engine;

public sealed class ClipGradTests : IDisposable
{
    private readonly List<Parameter> made = new();

    public void Dispose() { foreach (var p in made) p.Dispose(); }

    private Parameter Make(Tensor data) { var p = new Parameter(data); made.Add(p); return p; }

    private (Parameter a, Parameter b, Parameter none) Params(double[] ga, double[] gb)
    {
        var a = Make(torch.zeros([ga.Length], ScalarType.Float64));
        var b = Make(torch.zeros([gb.Length], ScalarType.Float64));
        var none = Make(torch.zeros([2], ScalarType.Float64));
        using (torch.NewScope()) { a.grad = torch.tensor(ga); b.grad = torch.tensor(gb); }
        return (a, b, none);
    }

    [Fact]
    public void Clip_grad_norm_scales_by_max_norm_over_total_plus_1e6()
    {
        using var _ = torch.NewScope();
        double[] ga = [3, 0, -4], gb = [12];                     // total 2-norm: sqrt(9 + 16 + 144) = 13
        var (a, b, none) = Params(ga, gb);
        var total = ClipGrad.clip_grad_norm_([a, b, none], max_norm: 1.0);
        Assert.Equal(13.0, total.item<double>(), 12);
        double coef = 1.0 / (13.0 + 1e-6);
        Assert.Equal(ga.Select(v => v * coef).ToArray(), a.grad!.data<double>());
        Assert.Equal(12 * coef, b.grad!.item<double>(), 15);
        Assert.Null(none.grad);

        // Below the threshold the gradients stay as they are (coefficient clamped to 1).
        var (c, d, _) = Params(ga, gb);
        Assert.Equal(13.0, ClipGrad.clip_grad_norm_([c, d], max_norm: 100).item<double>(), 12);
        Assert.Equal(ga, c.grad!.data<double>());
    }

    [Fact]
    public void Clip_grad_norm_supports_inf_and_1_norms()
    {
        using var _ = torch.NewScope();
        var (a, b, _) = Params([3, 0, -4], [12]);
        Assert.Equal(12.0, ClipGrad.clip_grad_norm_([a, b], 6, double.PositiveInfinity).item<double>(), 12);
        Assert.Equal(-4 * 6 / (12 + 1e-6), a.grad!.data<double>()[2], 12);
        var (c, d, _) = Params([3, 0, -4], [12]);
        Assert.Equal(19.0, ClipGrad.clip_grad_norm_([c, d], 1, 1).item<double>(), 12);
        Assert.Equal(12 / (19 + 1e-6), d.grad!.item<double>(), 12);
        Assert.Throws<TorchException>(() => torch.ones(2).matmul(torch.ones(3)));   // leaves an error message behind
        var (e, f, _) = Params([double.NaN], [1]);
        Assert.Throws<InvalidOperationException>(() => ClipGrad.clip_grad_norm_([e, f], 1, error_if_nonfinite: true));
        Assert.Equal(0.0, ClipGrad.clip_grad_norm_([Make(torch.ones(1))], 1).item<double>());
    }

    [Fact]
    public void Clip_grad_value_clamps_elementwise()
    {
        using var _ = torch.NewScope();
        var (a, b, _) = Params([3, 0.5, -4], [-0.25]);
        ClipGrad.clip_grad_value_([a, b], 1);
        Assert.Equal(new double[] { 1, 0.5, -1 }, a.grad!.data<double>());
        Assert.Equal(-0.25, b.grad!.item<double>());
    }
}
