using AptLab.Wan;
using Xunit.Abstractions;
using static AptLab.Tests.Wan.WanTestUtil;

namespace AptLab.Tests.Wan;

/// <summary>Backward of the DiT against central finite differences (float64), and activation checkpointing
/// against the plain backward.</summary>
public class WanDiTGradientTests(ITestOutputHelper log)
{
    // head_dim 12 (RoPE pairs 2/2/2), short text, small CLIP width: every code path, tiny cost.
    private static WanConfig Micro(string type) => new()
    {
        ModelType = type, InDim = type == "i2v" ? 36 : 16, Dim = 24, FfnDim = 32, FreqDim = 16, TextDim = 8,
        OutDim = 16, NumHeads = 2, NumLayers = 2, TextLen = 4, ClipDim = 8,
    };

    private sealed record Inputs(Tensor[] X, Tensor T, Tensor[] Ctx, Tensor? Clip, Tensor[]? Y, long SeqLen, Tensor[] Weights);

    // Two samples with different grids (2,2,3) and (1,3,2), padded to seq_len 14: exercises key masking.
    private static Inputs MakeInputs(WanConfig cfg, ScalarType dt, ulong seed)
    {
        using var g = new Generator(seed);
        bool i2v = cfg.IsI2V;
        var shapes = new[] { new long[] { 2, 4, 6 }, new long[] { 1, 6, 4 } };
        var x = shapes.Select(s => torch.randn([16, .. s], dt, generator: g).DetachFromScope()).ToArray();
        var y = i2v ? shapes.Select(s => torch.randn([20, .. s], dt, generator: g).DetachFromScope()).ToArray() : null;
        var ctx = new[] { torch.randn([3, cfg.TextDim], dt, generator: g).DetachFromScope(), torch.randn([2, cfg.TextDim], dt, generator: g).DetachFromScope() };
        var clip = i2v ? torch.randn([2, 3, cfg.ClipDim], dt, generator: g).DetachFromScope() : null;
        var t = torch.tensor(new double[] { 937, 401.5 }).to(dt).DetachFromScope();
        var w = shapes.Select(s => torch.randn([16, .. s], dt, generator: g).DetachFromScope()).ToArray();
        return new Inputs(x, t, ctx, clip, y, 14, w);
    }

    private static Tensor Loss(WanModel m, Inputs a)
    {
        var outs = m.forward(a.X, a.T, a.Ctx, a.SeqLen, a.Clip, a.Y).Outputs;
        Tensor loss = (outs[0] * a.Weights[0]).sum();
        for (int i = 1; i < outs.Count; i++) loss = loss + (outs[i] * a.Weights[i]).sum();
        return loss;
    }

    [Theory]
    [InlineData("t2v")]
    [InlineData("i2v")]
    public void Gradients_match_central_finite_differences(string type)
    {
        using var _ = torch.NewScope();
        var cfg = Micro(type);
        using var model = new WanModel(cfg, ScalarType.Float64);
        Randomize(model, 7);
        var a = MakeInputs(cfg, ScalarType.Float64, 11);
        a.X[0].requires_grad = true;
        Loss(model, a).backward();
        var pars = model.named_parameters().ToList();
        var grads = pars.Select(p => p.parameter.grad!).ToList();
        var gx = a.X[0].grad!;

        using var g = new Generator(5);
        const double h = 1e-5;
        for (int trial = 0; trial < 3; trial++)
        {
            // A random direction over every parameter and the first latent at once.
            var dirs = pars.Select(p => torch.randn(p.parameter.shape, ScalarType.Float64, generator: g)).ToList();
            var dx = torch.randn(a.X[0].shape, ScalarType.Float64, generator: g);
            double analytic = grads.Zip(dirs).Sum(z => (z.First * z.Second).sum().item<double>()) + (gx * dx).sum().item<double>();
            double Shifted(double s)
            {
                using var __ = torch.no_grad();
                using var scope = torch.NewScope();
                foreach (var (p, d) in pars.Zip(dirs)) p.parameter.add_(d, s);
                a.X[0].add_(dx, s);
                double v = Loss(model, a).item<double>();
                foreach (var (p, d) in pars.Zip(dirs)) p.parameter.add_(d, -s);
                a.X[0].add_(dx, -s);
                return v;
            }
            double numeric = (Shifted(h) - Shifted(-h)) / (2 * h);
            double rel = Math.Abs(numeric - analytic) / Math.Abs(numeric);
            log.WriteLine($"{type} direction {trial}: analytic {analytic:G10} numeric {numeric:G10} rel {rel:E2}");
            Assert.True(rel < 1e-6, $"direction {trial}: analytic {analytic} vs numeric {numeric} (rel {rel:E2})");
        }

        // Single entries of parameters on distinct paths (q/k norm, RoPE'd projections, modulation, head, image branch).
        var names = new List<string> { "blocks.0.self_attn.norm_k.weight", "blocks.1.self_attn.q.weight", "blocks.0.modulation",
            "time_embedding.0.weight", "text_embedding.0.weight", "head.head.bias", "blocks.1.norm3.bias", "patch_embedding.weight" };
        if (cfg.IsI2V) names.AddRange(["blocks.1.cross_attn.k_img.weight", "img_emb.proj.0.weight"]);
        foreach (var name in names)
        {
            var (_, p) = pars.First(q => q.name == name);
            var flat = p.view(-1);
            var gflat = grads[pars.FindIndex(q => q.name == name)].view(-1);
            long idx = p.numel() / 3;
            double Shift(double s)
            {
                using var __ = torch.no_grad();
                using var scope = torch.NewScope();
                flat.narrow(0, idx, 1).add_(s);
                double v = Loss(model, a).item<double>();
                flat.narrow(0, idx, 1).add_(-s);
                return v;
            }
            double numeric = (Shift(h) - Shift(-h)) / (2 * h);
            double analytic = gflat[idx].item<double>();
            double err = Math.Abs(numeric - analytic) / Math.Max(Math.Abs(numeric), 1e-3);
            log.WriteLine($"{type} {name}[{idx}]: analytic {analytic:G10} numeric {numeric:G10} err {err:E2}");
            Assert.True(err < 1e-6, $"{name}[{idx}]: analytic {analytic} vs numeric {numeric}");
        }
    }

    [Theory]
    [InlineData("t2v")]
    [InlineData("i2v")]
    public void Checkpointing_gives_the_same_gradients(string type)
    {
        using var _ = torch.NewScope();
        var cfg = Micro(type);
        using var model = new WanModel(cfg);
        Randomize(model, 3);
        var a = MakeInputs(cfg, ScalarType.Float32, 13);

        Tensor[] Grads(bool checkpoint)
        {
            model.zero_grad();
            model.GradientCheckpointing = checkpoint;
            using var scope = torch.NewScope();
            Loss(model, a).backward();
            return model.named_parameters().Select(p => scope.Keep(p.parameter.grad
                ?? throw new Xunit.Sdk.XunitException($"{p.name} got no gradient (checkpointing {checkpoint})"))).ToArray();
        }
        var plain = Grads(false);
        var ckpt = Grads(true);
        Assert.Equal(plain.Length, ckpt.Length);
        double worst = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            Assert.True(plain[i].abs().sum().item<double>() > 0, $"parameter {i} got no gradient");
            worst = Math.Max(worst, (ckpt[i] - plain[i]).abs().max().item<double>() / plain[i].abs().max().item<double>());
        }
        log.WriteLine($"{type}: max relative gradient difference, checkpointing on vs off: {worst:E2}");
        Assert.True(worst < 1e-6, $"checkpointed gradients differ by {worst:E2}");
    }

    [Fact]
    public void Forward_and_backward_leave_no_tensor_behind()
    {
        var cfg = Micro("i2v");
        using var model = new WanModel(cfg);
        var a = MakeInputs(cfg, ScalarType.Float32, 17);
        long before = TestPaths.SettledLiveTensors();
        for (int step = 0; step < 3; step++)
        {
            using var scope = torch.NewScope();
            model.GradientCheckpointing = step == 1;
            Loss(model, a).backward();
        }
        model.zero_grad();
        Assert.Equal(before, torch.live_tensors());
    }
}
