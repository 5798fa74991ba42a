namespace AptLab.Tests.Engine;

/// <summary>torch.nn.functional against closed forms and hand computations.</summary>
public class FunctionalTests
{
    [Fact]
    public void Activations_match_their_formulas()
    {
        using var _ = torch.NewScope();
        double[] xs = { -2, -0.5, 0, 0.7, 3 };
        var x = torch.tensor(xs);
        static double Phi(double v) => 0.5 * (1 + Erf(v / Math.Sqrt(2)));
        TensorAssert.Close(xs.Select(v => v * Phi(v)).ToArray(), F.gelu(x), atol: 1e-12);
        TensorAssert.Close(xs.Select(v => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))).ToArray(), F.gelu(x, tanh: true), atol: 1e-12);
        TensorAssert.Close(xs.Select(v => v / (1 + Math.Exp(-v))).ToArray(), F.silu(x), atol: 1e-12);
        TensorAssert.Close(xs.Select(v => Math.Log(1 + Math.Exp(v))).ToArray(), F.softplus(x), atol: 1e-12);
        TensorAssert.Close(xs.Select(v => -Math.Log(1 + Math.Exp(-v))).ToArray(), F.logsigmoid(x), atol: 1e-12);
        double z = xs.Sum(Math.Exp);
        TensorAssert.Close(xs.Select(v => Math.Exp(v) / z).ToArray(), F.softmax(x, 0), atol: 1e-12);
        TensorAssert.Close(xs.Select(v => v - Math.Log(z)).ToArray(), F.log_softmax(x, 0), atol: 1e-12);
    }

    // Abramowitz-Stegun 7.1.26 is too coarse for 1e-12; integrate erf by Simpson's rule instead.
    private static double Erf(double x)
    {
        int n = 2000;
        double h = x / n, s = 1 + Math.Exp(-x * x);
        for (int i = 1; i < n; i++) s += (i % 2 == 1 ? 4 : 2) * Math.Exp(-(i * h) * (i * h));
        return 2 / Math.Sqrt(Math.PI) * s * h / 3;
    }

    [Fact]
    public void Linear_and_convolutions_compute_sums_of_products()
    {
        using var _ = torch.NewScope();
        var x = torch.tensor(new double[] { 1, 2, 3 }, 1, 3);
        var w = torch.tensor(new double[] { 1, 0, -1, 2, 2, 2 }, 2, 3);
        TensorAssert.Close(new[] { -2.0 + 0.5, 12 - 1 }, F.linear(x, w, torch.tensor(new double[] { 0.5, -1 })));

        // conv2d: a 3x3 ones kernel on a 4x4 ramp with padding 1 sums each neighbourhood.
        var img = torch.arange(16, dtype: torch.float64).view(1, 1, 4, 4);
        var k = torch.ones([1, 1, 3, 3], torch.float64);
        var y = F.conv2d(img, k, padding: [1]);
        Assert.Equal(new long[] { 1, 1, 4, 4 }, y.shape);
        Assert.Equal(0 + 1 + 4 + 5, y[0][0][0][0].item<double>());
        Assert.Equal(Enumerable.Range(0, 3).Sum(r => Enumerable.Range(0, 3).Sum(c => r * 4 + c)), y[0][0][1][1].item<double>());
        Assert.Equal(new long[] { 1, 1, 2, 2 }, F.conv2d(img, k, stride: [2], padding: [1]).shape);
        // dilation 2 on 5x5 with a 3x3 kernel reaches the corners only.
        var img5 = torch.arange(25, dtype: torch.float64).view(1, 1, 5, 5);
        Assert.Equal(0 + 2 + 4 + 10 + 12 + 14 + 20 + 22 + 24, F.conv2d(img5, k, dilation: [2]).item<double>());
        // groups: two channels, each with its own kernel.
        var two = torch.stack(new[] { torch.ones([3, 3], torch.float64), torch.full([3, 3], 2, torch.float64) }).unsqueeze(0);
        var kg = torch.stack(new[] { torch.ones([1, 3, 3], torch.float64), torch.full([1, 3, 3], 10, torch.float64) });
        TensorAssert.Close(new[] { 9.0, 180 }, F.conv2d(two, kg, groups: 2).flatten());
        // conv1d and conv3d share the path; conv3d with a 1x1x1 kernel is a per-voxel linear map.
        var v = torch.randn([1, 2, 3, 4, 5], torch.float64);
        var w3 = torch.tensor(new double[] { 2, -1 }, 1, 2, 1, 1, 1);
        TensorAssert.Close(v.select(1, 0) * 2 - v.select(1, 1), F.conv3d(v, w3).select(1, 0), atol: 1e-12);
        TensorAssert.Close(new[] { 3.0, 5, 7 }, F.conv1d(torch.tensor(new double[] { 1, 2, 3, 4 }, 1, 1, 4), torch.ones([1, 1, 2], torch.float64)).flatten());
        // conv_transpose with stride 2 scatters each input into a 2x2 block of the kernel.
        var ct = F.conv_transpose(torch.tensor(new double[] { 1, 2 }, 1, 1, 1, 2), torch.tensor(new double[] { 1, 2, 3, 4 }, 1, 1, 2, 2), stride: [2]);
        TensorAssert.Close(new[] { 1.0, 2, 2, 4, 3, 4, 6, 8 }, ct.flatten());
    }

    [Fact]
    public void Normalisations_standardise()
    {
        using var _ = torch.NewScope();
        var x = torch.randn([4, 6, 8], torch.float64);
        var ln = F.layer_norm(x, [8], eps: 0);
        TensorAssert.Close(torch.zeros([4, 6], torch.float64), ln.mean(-1), atol: 1e-12);
        TensorAssert.Close(torch.ones([4, 6], torch.float64), ln.var(-1, correction: 0), atol: 1e-10);
        var affine = F.layer_norm(x, [8], torch.full([8], 2, torch.float64), torch.full([8], 3, torch.float64), 0);
        TensorAssert.Close(ln * 2 + 3, affine, atol: 1e-12);
        var rms = F.rms_norm(x, [8], torch.full([8], 2, torch.float64), 0);
        TensorAssert.Close(x * 2 / x.pow(2).mean(-1, keepdim: true).sqrt(), rms, atol: 1e-12);
        var gn = F.group_norm(x.view(4, 6, 8), 2, eps: 0);               // groups of 3 channels x 8
        var g0 = gn.narrow(1, 0, 3);
        TensorAssert.Close(torch.zeros([4], torch.float64), g0.mean([1, 2]), atol: 1e-12);
        TensorAssert.Close(torch.ones([4], torch.float64), g0.var([1, 2], correction: 0), atol: 1e-10);
        // weight norm: w = g * v / ||v|| per output row.
        var vv = torch.tensor(new double[] { 3, 4, 0, 5 }, 2, 2);
        TensorAssert.Close(new[] { 1.8, 2.4, 0, 2 }, F.weight_norm(vv, torch.tensor(new double[] { 3, 2 }, 2, 1), 0), atol: 1e-12);
    }

    [Fact]
    public void Attention_with_key_padding_mask_ignores_padded_keys()
    {
        using var _ = torch.NewScope();
        var q = torch.randn([2, 3, 4, 8], torch.float64);
        var k = torch.randn([2, 3, 5, 8], torch.float64);
        var v = torch.randn([2, 3, 5, 8], torch.float64);
        var lens = torch.tensor(new long[] { 5, 2 });
        var mask = F.key_padding_mask(lens, 5);                         // [2, 1, 1, 5]
        var out_ = F.scaled_dot_product_attention(q, k, v, mask);
        // Sample 0 sees every key: plain softmax attention.
        var s0 = F.softmax(q[0].matmul(k[0].mT) / Math.Sqrt(8), -1).matmul(v[0]);
        TensorAssert.Close(s0, out_[0], atol: 1e-12);
        // Sample 1 sees only its first 2 keys: equal to attention over the truncated keys.
        var k1 = k[1].narrow(1, 0, 2);
        var v1 = v[1].narrow(1, 0, 2);
        var s1 = F.softmax(q[1].matmul(k1.mT) / Math.Sqrt(8), -1).matmul(v1);
        TensorAssert.Close(s1, out_[1], atol: 1e-12);
        // Custom scale and causal masking.
        var c = F.scaled_dot_product_attention(q, q, q, is_causal: true, scale: 0.5);
        TensorAssert.Close(q.select(2, 0), c.select(2, 0), atol: 1e-12);   // the first query only sees itself
    }

    [Fact]
    public void Interpolation_modes()
    {
        using var _ = torch.NewScope();
        var x = torch.tensor(new double[] { 0, 10 }, 1, 1, 2);
        TensorAssert.Close(new[] { 0.0, 0, 10, 10 }, F.interpolate(x, [4L]).flatten());
        TensorAssert.Close(new[] { 0.0, 2.5, 7.5, 10 }, F.interpolate(x, [4L], F.InterpolateMode.Linear).flatten());
        TensorAssert.Close(new[] { 0.0, 10.0 / 3, 20.0 / 3, 10 }, F.interpolate(x, [4L], F.InterpolateMode.Linear, align_corners: true).flatten(), atol: 1e-12);
        var img = torch.tensor(new double[] { 0, 1, 2, 3 }, 1, 1, 2, 2);
        var bl = F.interpolate(img, [3L, 3L], F.InterpolateMode.Bilinear, align_corners: true);
        TensorAssert.Close(new[] { 0.0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3 }, bl.flatten(), atol: 1e-12);
        var vol = torch.arange(8, dtype: torch.float64).view(1, 1, 2, 2, 2);
        var tl = F.interpolate(vol, [3L, 3L, 3L], F.InterpolateMode.Trilinear, align_corners: true);
        Assert.Equal(3.5, tl[0][0][1][1][1].item<double>(), 12);            // the centre is the mean of the 8 corners
        Assert.Equal(new long[] { 1, 1, 4, 4 }, F.interpolate(img, new[] { 2.0, 2.0 }).shape);
    }

    [Fact]
    public void Losses_match_hand_computation()
    {
        using var _ = torch.NewScope();
        var a = torch.tensor(new double[] { 1, 2, 3 });
        var b = torch.tensor(new double[] { 2, 2, 5 });
        Assert.Equal(5.0 / 3, F.mse_loss(a, b).item<double>(), 12);
        Assert.Equal(5.0, F.mse_loss(a, b, F.Reduction.Sum).item<double>(), 12);
        Assert.Equal(1.0, F.l1_loss(a, b).item<double>(), 12);
        var logits = torch.tensor(new double[] { 2, 1, 0, 0, 0, 3 }, 2, 3);
        var target = torch.tensor(new long[] { 0, 2 });
        double l0 = -(2 - Math.Log(Math.Exp(2) + Math.Exp(1) + 1)), l1 = -(3 - Math.Log(2 + Math.Exp(3)));
        Assert.Equal((l0 + l1) / 2, F.cross_entropy(logits, target).item<double>(), 12);
        Assert.Equal(Math.Log(1 + Math.Exp(-2.0)), F.binary_cross_entropy_with_logits(torch.tensor(new double[] { 2 }), torch.tensor(new double[] { 1 })).item<double>(), 12);
    }

    [Fact]
    public void Dropout_keeps_expectation()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(3);
        var y = F.dropout(torch.ones([100_000], torch.float64), 0.3);
        double kept = y.gt(0).to(torch.float64).mean().item<double>();
        Assert.InRange(kept, 0.69, 0.71);
        Assert.Equal(1 / 0.7, y.max().item<double>(), 12);                  // survivors are scaled by 1/(1-p)
        Assert.Equal(1.0, F.dropout(torch.ones([10], torch.float64), 0.3, training: false).mean().item<double>());
    }
}
