using AptLab.Apt;

namespace AptLab.Tests.Apt;

/// <summary>The read-out heads on the path production takes (no key mask: every visual token is real), against
/// docs/apt.md#heads written out with plain tensor ops in float64, on random hand-set weights (every norm gain and bias
/// non-trivial).</summary>
public class DiscriminatorHeadTests
{
    private const double Eps = 1e-6;

    private static Tensor Rms(Tensor x, Tensor g) => x / (x.square().mean([-1], keepdim: true) + Eps).sqrt() * g;

    private static Tensor Ln(Tensor x, Tensor g, Tensor b, double eps)
    {
        var mu = x.mean([-1], keepdim: true);
        var var = (x - mu).square().mean([-1], keepdim: true);
        return (x - mu) / (var + eps).sqrt() * g + b;
    }

    private static Tensor Lin(Tensor x, AptLab.Torch.nn.Linear l) => x.matmul(l.weight.transpose(0, 1)) + l.bias!;

    /// <summary>One head, docs/apt.md#heads: h' = RMSNorm(h); q = Wq RMSNorm(q0); k = Wk h'; v = Wv h'; per-head RMSNorm of
    /// q and k; y = q0 + Wo softmax(q k^T / sqrt d) v; y = y + W2 GELU(W1 LayerNorm(y)).</summary>
    private static Tensor Head(DiscriminatorHead p, Tensor h, int heads)
    {
        long b = h.size(0), l = h.size(1), c = h.size(2), d = c / heads;
        var q0 = p.query.expand(b, 1, c);
        var hn = Rms(h, p.norm_kv.weight!);
        var q = Rms(Lin(Rms(q0, p.norm_q.weight!), p.q).view(b, 1, heads, d), p.norm_q_head.weight!).permute(0, 2, 1, 3);  // [B, H, 1, d]
        var k = Rms(Lin(hn, p.k).view(b, l, heads, d), p.norm_k_head.weight!).permute(0, 2, 1, 3);                       // [B, H, L, d]
        var v = Lin(hn, p.v).view(b, l, heads, d).permute(0, 2, 1, 3);
        var a = F.softmax(q.matmul(k.transpose(2, 3)) / Math.Sqrt(d), -1).matmul(v);                                     // [B, H, 1, d]
        var y = q0 + Lin(a.permute(0, 2, 1, 3).reshape(b, 1, c), p.o);
        y = y + Lin(F.gelu(Lin(Ln(y, p.norm_mlp.weight!, p.norm_mlp.bias!, p.norm_mlp.eps), p.mlp_in)), p.mlp_out);
        return y.view(b, c);
    }

    [Fact]
    public void Readout_equals_the_heads_formula_without_a_mask()
    {
        using var _ = torch.NewScope();
        const int dim = 8, heads = 2, count = 3;
        using var readout = new DiscriminatorReadout(dim, heads, count, ScalarType.Float64);
        using var g = new Generator(4);
        using (torch.no_grad())
            foreach (var (name, p) in readout.named_parameters())
                p.copy_(name.EndsWith("weight") && p.shape.Length == 1
                    ? torch.rand(p.shape, ScalarType.Float64, generator: g) * 0.5 + 0.75          // norm gains around 1
                    : torch.randn(p.shape, ScalarType.Float64, generator: g) * 0.4);
        // visual tokens of three layers, [B, L, C], different lengths per layer are not allowed: same L
        var hidden = Enumerable.Range(0, count).Select(_ => torch.randn([2, 5, dim], ScalarType.Float64, generator: g) * 2).ToArray();
        var logits = readout.forward(hidden, keyMask: null);                                  // [B]

        var tokens = torch.cat(hidden.Select((h, i) => Head(readout.heads[i], h, heads)).ToArray(), 1);   // [B, 3C]
        var expected = Lin(Ln(tokens, readout.norm.weight!, readout.norm.bias!, readout.norm.eps), readout.proj).squeeze(1);
        TensorAssert.Close(expected, logits, atol: 1e-12, rtol: 1e-10);

        // pooling by attention: the order of the visual tokens does not matter, every token does
        var perm = torch.tensor(new long[] { 3, 0, 4, 1, 2 });
        TensorAssert.Close(logits, readout.forward(hidden.Select(h => h.index_select(1, perm)).ToArray(), null), atol: 1e-12);
        for (int i = 0; i < count; i++)
        {
            var moved = hidden.Select(h => h.clone()).ToArray();
            moved[i][0].narrow(0, 4, 1).add_(1.0);
            var changed = readout.forward(moved, null);
            Assert.True(Math.Abs((changed - logits)[0].item<double>()) > 1e-6, $"head {i}: the last token of sample 0 is ignored");
            Assert.Equal(logits[1].item<double>(), changed[1].item<double>());                // samples stay apart
        }
    }
}
