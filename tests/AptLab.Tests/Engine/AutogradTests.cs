namespace AptLab.Tests.Engine;

/// <summary>Autograd against central finite differences (float64) and its basic contracts.</summary>
public class AutogradTests
{
    private static Tensor Leaf(long[] shape, double scale = 1) =>
        (torch.randn(shape, ScalarType.Float64) * scale).detach().requires_grad_();

    /// <summary>
    /// Checks d loss / d input for every input against central differences, loss = sum(f(inputs) * w) with a
    /// fixed random w. At most <paramref name="perInput"/> elements of each input are probed (chosen at random).
    /// </summary>
    private static void GradCheck(Func<Tensor[], Tensor> f, Tensor[] inputs, int perInput = 24, double h = 1e-6,
        double atol = 1e-7, double rtol = 1e-5)
    {
        using var scope = torch.NewScope();
        var w = torch.randn(f(inputs).shape, ScalarType.Float64);
        var loss = (f(inputs) * w).sum();
        var analytic = Autograd.grad([loss], inputs);
        double Eval() { using var s = torch.NewScope(); using var _ = torch.no_grad(); return (f(inputs) * w).sum().item<double>(); }
        var rng = new Random(5);
        for (int n = 0; n < inputs.Length; n++)
        {
            var flat = inputs[n].view(-1);
            var ana = analytic[n]!.reshape(-1).data<double>();
            var probes = Enumerable.Range(0, ana.Length).OrderBy(_ => rng.Next()).Take(perInput);
            foreach (int i in probes)
            {
                var e = flat.narrow(0, i, 1);
                double plus, minus;
                using (torch.no_grad()) e.add_(h);
                plus = Eval();
                using (torch.no_grad()) e.add_(-2 * h);
                minus = Eval();
                using (torch.no_grad()) e.add_(h);
                double num = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(num - ana[i]) <= atol + rtol * Math.Abs(ana[i]),
                    $"input {n} element {i}: autograd {ana[i]:R}, finite difference {num:R}");
            }
        }
    }

    [Fact]
    public void Linear_gelu_layer_norm()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(10);
        Tensor[] ins = [Leaf([3, 5]), Leaf([6, 5], 0.5), Leaf([6]), Leaf([6]), Leaf([6])];
        GradCheck(t => F.layer_norm(F.gelu(F.linear(t[0], t[1], t[2])), [6], t[3], t[4]), ins);
        GradCheck(t => F.gelu(t[0], tanh: true), [ins[0]]);
    }

    [Fact]
    public void Conv2d_with_stride_and_padding()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(11);
        Tensor[] ins = [Leaf([2, 3, 5, 5]), Leaf([4, 3, 3, 3], 0.3), Leaf([4])];
        GradCheck(t => F.conv2d(t[0], t[1], t[2], stride: [2, 1], padding: [1, 1]), ins);
    }

    [Fact]
    public void Attention_with_key_padding_mask()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(12);
        Tensor[] ins = [Leaf([2, 2, 3, 4]), Leaf([2, 2, 5, 4]), Leaf([2, 2, 5, 4])];     // q, k, v [B, H, L, D]
        var mask = F.key_padding_mask(torch.tensor(new long[] { 5, 3 }), 5);             // [B, 1, 1, Lk]
        Func<Tensor[], Tensor> attn = t => F.scaled_dot_product_attention(t[0], t[1], t[2], mask);
        GradCheck(attn, ins, perInput: 30);
        // Padded keys and values (sample 1, positions 3 and 4) get exactly zero gradient.
        var loss = attn(ins).pow(2).sum();
        var g = Autograd.grad([loss], [ins[1], ins[2]]);
        foreach (var gi in g)
        {
            Assert.Equal(0.0, gi!.select(0, 1).narrow(1, 3, 2).abs().sum().item<double>());
            Assert.True(gi.select(0, 1).narrow(1, 0, 3).abs().sum().item<double>() > 0);
        }
    }

    [Fact]
    public void Rms_norm_and_group_norm()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(13);
        GradCheck(t => F.rms_norm(t[0], [8], t[1], eps: 1e-6), [Leaf([3, 8]), Leaf([8])]);
        GradCheck(t => F.group_norm(t[0], 2, t[1], t[2]), [Leaf([2, 4, 3, 3]), Leaf([4]), Leaf([4])]);
    }

    [Fact]
    public void Trilinear_interpolation()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(14);
        GradCheck(t => F.interpolate(t[0], [5, 6, 4], F.InterpolateMode.Trilinear), [Leaf([1, 2, 3, 4, 5])], perInput: 40);
    }

    [Fact]
    public void Grad_of_a_non_leaf_does_not_touch_leaf_grads()
    {
        using var _ = torch.NewScope();
        var x = torch.tensor(new double[] { 1, -2, 3 }).requires_grad_();
        var y = x * x;                                              // non-leaf
        var z = (y * 3).sum();
        var gy = Autograd.grad([z], [y], retain_graph: true)[0]!;
        Assert.Equal(new double[] { 3, 3, 3 }, gy.data<double>());
        Assert.False(y.is_leaf);
        Assert.Null(x.grad);
        var gx = Autograd.grad([z], [x])[0]!;
        Assert.Equal(new double[] { 6, -12, 18 }, gx.data<double>());
    }

    [Fact]
    public void Backward_with_explicit_gradient_and_accumulation_over_two_calls()
    {
        using var _ = torch.NewScope();
        var x = torch.tensor(new double[] { 1, 2, 3 }).requires_grad_();
        (x * 2).backward(torch.tensor(new double[] { 1, 10, 100 }));
        Assert.Equal(new double[] { 2, 20, 200 }, x.grad!.data<double>());
        x.pow(2).sum().backward();                                  // accumulates 2x
        Assert.Equal(new double[] { 4, 24, 206 }, x.grad!.data<double>());
        x.grad = null;
        x.sum().backward();
        Assert.Equal(new double[] { 1, 1, 1 }, x.grad!.data<double>());
    }

    [Fact]
    public void No_grad_scope_disables_recording_and_restores_it()
    {
        using var _ = torch.NewScope();
        var x = torch.ones([2], requires_grad: true);
        Assert.True(x.requires_grad);
        Tensor inside;
        using (torch.no_grad())
        {
            Assert.False(torch.is_grad_enabled());
            inside = x * 2;
            Assert.False(inside.requires_grad);
            using (torch.enable_grad()) Assert.True((x * 2).requires_grad);
            Assert.False(torch.is_grad_enabled());
        }
        Assert.True(torch.is_grad_enabled());
        Assert.True((x * 2).requires_grad);
        Assert.Throws<TorchException>(() => inside.sum().backward());
    }
}
