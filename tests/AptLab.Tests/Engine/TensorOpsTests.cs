namespace AptLab.Tests.Engine;

/// <summary>Creation, dtypes, views and reductions against closed forms.</summary>
public class TensorOpsTests
{
    [Fact]
    public void Dtypes_round_trip_through_arrays_and_conversions()
    {
        using var _ = torch.NewScope();
        var x = torch.tensor(new float[] { 1.5f, -2.25f, 3.0f, 0.1f });
        Assert.Equal(ScalarType.Float32, x.dtype);
        // bf16 keeps 8 mantissa bits: 0.1 -> 0.10009765625; 1.5, -2.25, 3 are exact.
        TensorAssert.Close(new[] { 1.5, -2.25, 3.0, 0.10009765625 }, x.to(torch.bfloat16), atol: 0, rtol: 0);
        TensorAssert.Close(new[] { 1.5, -2.25, 3.0, 0.0999755859375 }, x.to(torch.float16), atol: 0, rtol: 0);
        Assert.Equal(new long[] { 1, -2, 3, 0 }, x.to(torch.int64).data<long>());   // truncation toward zero
        Assert.Equal(new int[] { 1, -2, 3, 0 }, x.to(torch.int32).data<int>());
        Assert.Equal(new byte[] { 1, 1, 1, 1 }, x.to(torch.@bool).data<byte>());
        Assert.Equal(new byte[] { 1, 254, 3, 0 }, x.to(torch.uint8).data<byte>());   // -2 wraps as in PyTorch
        Assert.Equal(new double[] { 1.5, -2.25, 3.0, (double)0.1f }, x.to(torch.float64).data<double>());
        Assert.Equal(4, x.to(torch.bfloat16).numel());
        Assert.Equal(2, x.to(torch.bfloat16).element_size());
        var raw = torch.from_bytes(x.bytes(), torch.float32, [2, 2]);
        Assert.Equal(x.data<float>(), raw.data<float>());
        Assert.Throws<ArgumentException>(() => x.data<double>());
    }

    [Fact]
    public void Creation_functions_follow_pytorch()
    {
        using var _ = torch.NewScope();
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, torch.arange(5).data<long>());
        TensorAssert.Close(new[] { 1.0, 1.5, 2.0, 2.5 }, torch.arange(1, 3, 0.5, torch.float32));
        TensorAssert.Close(new[] { 0.0, 0.25, 0.5, 0.75, 1.0 }, torch.linspace(0, 1, 5));
        TensorAssert.Close(new[] { 1.0, 0, 0, 0, 1, 0 }, torch.eye(2, 3));
        TensorAssert.Close(new[] { 7.0, 7, 7 }, torch.full([3], 7));
        var ri = torch.randint(3, 9, [1000]);
        Assert.True(ri.min().item<long>() >= 3 && ri.max().item<long>() <= 8);
        Assert.Equal(ScalarType.Int64, ri.dtype);
        var z = torch.zeros_like(ri);
        Assert.Equal(0, z.abs().sum().item<long>());
        Assert.Equal(ScalarType.Int64, z.dtype);
    }

    [Fact]
    public void Generators_are_reproducible_and_independent()
    {
        using var _ = torch.NewScope();
        using var g1 = new Generator(42);
        using var g2 = new Generator(42);
        var a = torch.randn([8], generator: g1);
        var b = torch.randn([8], generator: g2);
        Assert.Equal(a.data<float>(), b.data<float>());
        var state = g1.get_state();
        var c = torch.rand([8], generator: g1);
        g1.set_state(state);
        Assert.Equal(c.data<float>(), torch.rand([8], generator: g1).data<float>());
        torch.manual_seed(7);
        var d = torch.randn(8);
        torch.manual_seed(7);
        Assert.Equal(d.data<float>(), torch.randn(8).data<float>());
        // Moments of a large sample: mean 0 +- 0.01, std 1 +- 0.01 (N = 200k gives sd of the mean ~0.0022).
        var big = torch.randn([200_000], generator: new Generator(1));
        Assert.InRange(big.mean().item<double>(), -0.01, 0.01);
        Assert.InRange(big.std().item<double>(), 0.99, 1.01);
    }

    [Fact]
    public void Views_and_indexing()
    {
        using var _ = torch.NewScope();
        var x = torch.arange(24).view(2, 3, 4);                         // x[i,j,k] = 12i + 4j + k
        Assert.Equal(new long[] { 4, 3, 2 }, x.permute(2, 1, 0).shape);
        Assert.Equal(12 + 4 * 2 + 3, x.transpose(0, 2)[3][2][1].item<long>());
        Assert.Equal(new long[] { 5, 6, 7 }, x[0].narrow(0, 1, 1).slice(1, 1, 4).flatten().data<long>());
        Assert.Equal(new long[] { 1, 3, 5, 7 }, torch.arange(8).slice(0, 1, long.MaxValue, 2).data<long>());
        Assert.Equal(new long[] { 2, 12 }, x.flatten(1).shape);
        Assert.Equal(new long[] { 2, 3, 2, 2 }, x.unflatten(2, 2, 2).shape);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, x.unsqueeze(0).shape);
        Assert.Equal(new long[] { 2, 3, 4 }, x.unsqueeze(0).squeeze(0).shape);
        Assert.Equal(new long[] { 16, 17, 18, 19 }, x.select(1, 1).index_select(0, torch.tensor(new long[] { 1 })).data<long>());
        var idx = torch.tensor(new long[] { 2, 0 }, 2, 1);
        Assert.Equal(new long[] { 2, 12 }, x.select(1, 0).gather(1, idx).data<long>());      // rows [0..3], [12..15]
        var s = torch.zeros([3], torch.int64).scatter(0, torch.tensor(new long[] { 2, 0 }), torch.tensor(new long[] { 5, 9 }));
        Assert.Equal(new long[] { 9, 0, 5 }, s.data<long>());
        var m = torch.arange(4).masked_fill(torch.arange(4).gt(1), -1);
        Assert.Equal(new long[] { 0, 1, -1, -1 }, m.data<long>());
        var chunks = torch.arange(10).chunk(3);
        Assert.Equal(new[] { 4L, 4, 2 }, chunks.Select(c => c.numel()));
        var parts = torch.arange(10).split(new long[] { 3, 7 });
        Assert.Equal(new long[] { 3, 4, 5, 6, 7, 8, 9 }, parts[1].data<long>());
        Assert.Equal(new long[] { 0, 2, 4 }, (torch.arange(3) + torch.arange(3)).data<long>());     // integer + integer stays integer
        Assert.Equal(new long[] { 0, 0, 0 }, (torch.arange(3) - torch.arange(3)).data<long>());
        Assert.Equal(new long[] { 0, 1, 2, 0, 1, 2 }, torch.cat(new[] { torch.arange(3), torch.arange(3) }).data<long>());
        Assert.Equal(new long[] { 2, 3 }, torch.stack(new[] { torch.arange(3), torch.arange(3) }).shape);
        Assert.Equal(new long[] { 9, 9, 0, 1, 2, 9 }, F.pad(torch.arange(3), [2, 1], value: 9).data<long>());
        Assert.Equal(new long[] { 2, 1, 0 }, torch.arange(3).flip(0).data<long>());
        Assert.Equal(new long[] { 2, 0, 1 }, torch.arange(3).roll(1, 0).data<long>());
        Assert.Equal(new long[] { 0, 1, 0, 1 }, torch.arange(2).repeat(2).data<long>());
        Assert.Equal(new long[] { 0, 0, 1, 1 }, torch.arange(2).repeat_interleave(2, 0).data<long>());
        Assert.Equal(new long[] { 2, 3, 4 }, torch.arange(4).view(1, 1, 4).expand(2, 3, 4).shape);
        var adv = x.index(torch.tensor(new long[] { 1, 0 }), torch.tensor(new long[] { 2, 1 }));
        Assert.Equal(new long[] { 2, 4 }, adv.shape);
        Assert.Equal(12 + 8, adv[0][0].item<long>());
    }

    [Fact]
    public void Reductions_match_closed_forms()
    {
        using var _ = torch.NewScope();
        var x = torch.tensor(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        TensorAssert.Close(new[] { 6.0, 15 }, x.sum(1));
        TensorAssert.Close(new[] { 2.5, 3.5, 4.5 }, x.mean(0));
        Assert.Equal(new long[] { 2, 1 }, x.mean(1, keepdim: true).shape);
        TensorAssert.Close(new[] { 1.0, 1.0 }, x.var(1));                           // unbiased: ((1+0+1)/2)
        TensorAssert.Close(new[] { 2.0 / 3, 2.0 / 3 }, x.var(1, correction: 0));
        TensorAssert.Close(new[] { Math.Sqrt(17.5 / 5) }, x.std().view(1));        // all six values
        TensorAssert.Close(new[] { 3.0, 6 }, x.amax([1]));
        var (vals, idxs) = x.max(1);
        Assert.Equal(new long[] { 2, 2 }, idxs.data<long>());
        TensorAssert.Close(new[] { 3.0, 6 }, vals);
        Assert.Equal(5, x.argmax().item<long>());
        TensorAssert.Close(new[] { Math.Sqrt(91) }, x.norm().view(1));
        TensorAssert.Close(new[] { Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)), Math.Log(Math.Exp(4) + Math.Exp(5) + Math.Exp(6)) }, x.logsumexp(1));
        TensorAssert.Close(new[] { 1.0, 3, 6 }, torch.tensor(new double[] { 1, 2, 3 }).cumsum(0));
        Assert.Equal(720, x.prod().item<double>());
    }

    [Fact]
    public void Matrix_products_and_einsum()
    {
        using var _ = torch.NewScope();
        var a = torch.tensor(new double[] { 1, 2, 3, 4 }, 2, 2);
        var b = torch.tensor(new double[] { 5, 6, 7, 8 }, 2, 2);
        TensorAssert.Close(new[] { 19.0, 22, 43, 50 }, a.matmul(b));
        var ba = torch.stack(new[] { a, b });
        TensorAssert.Close(new[] { 19.0, 22, 43, 50, 67, 78, 91, 106 }, ba.bmm(torch.stack(new[] { b, b })));
        TensorAssert.Close(new[] { 20.0, 23, 44, 51, 68, 79, 92, 107 }, torch.ones([2, 2, 2], torch.float64).baddbmm(ba, torch.stack(new[] { b, b })));
        TensorAssert.Close(new[] { 19.0, 22, 43, 50 }, torch.einsum("ij,jk->ik", a, b));
        TensorAssert.Close(new[] { 5.0 }, torch.einsum("ii", a).view(1));
    }

    [Fact]
    public void Complex_views_multiply_like_rotations()
    {
        using var _ = torch.NewScope();
        // (1 + 2i) * e^{i pi/2} = -2 + i
        var z = torch.tensor(new double[] { 1, 2 }, 1, 2).view_as_complex();
        var rot = torch.polar(torch.ones([1], torch.float64), torch.full([1], Math.PI / 2, torch.float64));
        TensorAssert.Close(new[] { -2.0, 1 }, (z * rot).view_as_real().flatten(), atol: 1e-12);
    }

    [Fact]
    public void In_place_ops_return_the_same_object()
    {
        using var _ = torch.NewScope();
        var x = torch.ones(3);
        Assert.Same(x, x.mul_(2).add_(1));
        TensorAssert.Close(new[] { 3.0, 3, 3 }, x);
        x.addcmul_(torch.full([3], 2), torch.full([3], 3), 0.5);      // 3 + 0.5 * 6
        TensorAssert.Close(new[] { 6.0, 6, 6 }, x);
        x.lerp_(torch.zeros(3), 0.25);
        TensorAssert.Close(new[] { 4.5, 4.5, 4.5 }, x);
    }
}
