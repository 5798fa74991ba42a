using AptLab.Torch.nn;
using AptLab.Torch.optim;
using AptLab.Training;

namespace AptLab.Tests.Precision;

/// <summary>
/// The precision policy's master weights on a small module: what bf16-mixed keeps in float32 (masters, accumulated
/// gradients, optimizer state, EMA) and the small updates that survive there but round away in pure bf16.
/// </summary>
public class MasterWeightsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private sealed class Net : Module
    {
        public readonly Linear a, b;
        public Net(ulong seed)
        {
            torch.manual_seed(seed);
            a = RegisterModule("a", new Linear(32, 48));
            b = RegisterModule("b", new Linear(48, 8));
        }
        public Tensor forward(Tensor x) => b.forward(F.gelu(a.forward(x.to(a.weight.dtype))));
    }

    [Fact]
    public void Config_strings_parse_and_bad_ones_name_the_key_and_file()
    {
        Assert.Equal(AptLab.Training.Precision.Fp32, PrecisionPolicy.Parse("fp32"));
        Assert.Equal(AptLab.Training.Precision.Bf16Mixed, PrecisionPolicy.Parse("bf16-mixed"));
        Assert.Equal(AptLab.Training.Precision.Bf16, PrecisionPolicy.Parse("bf16"));
        foreach (var p in Enum.GetValues<AptLab.Training.Precision>()) Assert.Equal(p, PrecisionPolicy.Parse(p.ToConfigString()));
        var e = Assert.Throws<ArgumentException>(() => PrecisionPolicy.Parse("fp16", "apt.precision", "configs/x.yaml"));
        Assert.Contains("apt.precision", e.Message);
        Assert.Contains("configs/x.yaml", e.Message);
        Assert.Equal(ScalarType.Float32, AptLab.Training.Precision.Bf16Mixed.MasterDtype(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, AptLab.Training.Precision.Bf16Mixed.ComputeDtype(ScalarType.Float32));
        Assert.Equal(ScalarType.Float64, AptLab.Training.Precision.Fp32.ComputeDtype(ScalarType.Float64));
        Assert.Equal(ParallelMode.Fsdp, ParallelModes.Parse("fsdp"));
        Assert.Throws<ArgumentException>(() => ParallelModes.Parse("zero2"));
    }

    [Fact]
    public void Bf16_mixed_keeps_float32_masters_beside_bf16_compute_copies_that_keep_their_identity()
    {
        using var net = new Net(1);
        var before = net.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().DetachFromScope());
        var identity = net.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var mp = new MixedPrecisionParameters(net, AptLab.Training.Precision.Bf16Mixed);
        Assert.True(mp.SeparateMasters);
        foreach (var (name, m) in mp.named_masters())
        {
            Assert.Equal(ScalarType.Float32, m.dtype);
            Assert.Equal(before[name].data<float>(), m.data<float>());                        // exact: the model was float32
            var p = net.named_parameters().First(x => x.name == name).parameter;
            Assert.Same(identity[name], p);
            Assert.Equal(ScalarType.BFloat16, p.dtype);
            Assert.Equal(m.to(ScalarType.BFloat16).data<ushort>(), p.data<ushort>());            // round-to-nearest copy
        }
        foreach (var t in before.Values) t.Dispose();
        // checkpoints in either dtype: the float32 masters, or bf16 for a release, under the official names
        var f32 = mp.state_dict();
        var b16 = mp.state_dict(ScalarType.BFloat16);
        Assert.Equal(net.state_dict().Keys, f32.Keys);
        Assert.All(f32.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
        Assert.All(b16.Values, t => Assert.Equal(ScalarType.BFloat16, t.dtype));
        using var reloaded = new Net(9);
        using var rp = new MixedPrecisionParameters(reloaded, AptLab.Training.Precision.Bf16Mixed);
        rp.load_state_dict(f32);
        Assert.Equal(mp.Masters[0].data<float>(), rp.Masters[0].data<float>());
        Assert.Equal(net.a.weight.data<ushort>(), reloaded.a.weight.data<ushort>());
        using var fp32 = new MixedPrecisionParameters(new Net(1), AptLab.Training.Precision.Fp32);
        Assert.False(fp32.SeparateMasters);
        Assert.All(fp32.Trainable.Zip(fp32.Masters), x => Assert.Same(x.First.parameter, x.Second));   // nothing copied
    }

    [Fact]
    public void Micro_batch_gradients_are_added_in_float32()
    {
        using var scope = torch.NewScope();
        using var net = new Net(2);
        using var mp = new MixedPrecisionParameters(net, AptLab.Training.Precision.Bf16Mixed);
        using var g = new Generator(3);
        var grads = new List<Tensor[]>();
        for (int micro = 0; micro < 3; micro++)
        {
            net.forward(torch.randn([4, 32], generator: g)).to(ScalarType.Float32).square().mean().backward();
            grads.Add(mp.Trainable.Select(t => t.parameter.grad!.to(ScalarType.Float32)).ToArray());   // this micro-batch's bf16 grads
            mp.AccumulateGradients();
            Assert.All(mp.Trainable, t => Assert.Null(t.parameter.grad));
        }
        for (int i = 0; i < mp.Masters.Count; i++)
        {
            var expected = grads[0][i] + grads[1][i] + grads[2][i];                         // float32 sums of the bf16 values
            Assert.Equal(ScalarType.Float32, mp.Masters[i].grad!.dtype);
            Assert.Equal(expected.data<float>(), mp.Masters[i].grad!.data<float>());
        }
        // a bf16 accumulator would have rounded: the float32 sum is not representable in bf16 for most elements
        var bf16Sum = grads[0][0].to(ScalarType.BFloat16) + grads[1][0].to(ScalarType.BFloat16) + grads[2][0].to(ScalarType.BFloat16);
        Assert.True((bf16Sum.to(ScalarType.Float32) - mp.Masters[0].grad!).abs().max().item<double>() > 0);
    }

    // One optimizer step at lr 5e-6 on a fixed bf16 gradient: the float32 masters move by exactly the float32 update
    // (the same optimizer on a float32 copy given the same gradient), every element of them; pure bf16 loses it.
    [Theory]
    [InlineData("rmsprop")]
    [InlineData("adamw")]
    public void A_small_step_moves_every_float32_master_by_the_exact_float32_update_and_rounds_away_in_bf16(string kind)
    {
        using var scope = torch.NewScope();
        Optimizer Make(IEnumerable<Tensor> ps) => kind == "rmsprop"
            ? new RMSprop(ps, lr: 5e-6, alpha: 0.9, eps: 1e-8) : new AdamW(ps, lr: 5e-6, weight_decay: 0.01);
        using var g = new Generator(4);
        var gradOf = new Net(5).named_parameters().ToDictionary(p => p.name, p => torch.randn(p.parameter.shape, generator: g).to(ScalarType.BFloat16));

        using var mixed = new Net(5);
        using var mp = new MixedPrecisionParameters(mixed, AptLab.Training.Precision.Bf16Mixed);
        var reference = mp.named_masters().Select(m => (m.name, p: new Parameter(m.master.detach().clone()))).ToList();
        using var opt = Make(mp.Masters);
        using var refOpt = Make(reference.Select(r => (Tensor)r.p));
        using var pure = new Net(5);
        using var bp = new MixedPrecisionParameters(pure, AptLab.Training.Precision.Bf16);
        var pureBefore = bp.Masters.Select(m => m.detach().clone()).ToArray();
        using var pureOpt = Make(bp.Masters);
        Assert.Equal(ScalarType.BFloat16, bp.Masters[0].dtype);

        for (int step = 0; step < 3; step++)
        {
            foreach (var (name, p) in mp.Trainable) p.grad = gradOf[name].clone();
            foreach (var (name, p) in reference) p.grad = gradOf[name].to(ScalarType.Float32);
            foreach (var (name, p) in bp.Trainable) p.grad = gradOf[name].clone();
            var mastersBefore = mp.Masters.Select(m => m.detach().clone()).ToArray();
            mp.Step(opt);
            refOpt.step();
            bp.Step(pureOpt);
            for (int i = 0; i < mp.Masters.Count; i++)
            {
                Assert.Equal(reference[i].p.data<float>(), mp.Masters[i].data<float>());              // the exact float32 update
                Assert.True(mp.Masters[i].ne(mastersBefore[i]).all().item<bool>(), $"step {step}: a master did not move");
                Assert.Equal(mp.Masters[i].to(ScalarType.BFloat16).data<ushort>(), mp.Trainable[i].parameter.data<ushort>());
                var st = opt.StateOf(mp.Masters[i])!;
                Assert.All(st.Tensors.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
            }
            mp.zero_grad(); refOpt.zero_grad(); bp.zero_grad();
        }
        double changed = 0, total = 0;
        for (int i = 0; i < bp.Masters.Count; i++)
        {
            changed += bp.Masters[i].ne(pureBefore[i]).sum().item<double>();
            total += bp.Masters[i].numel();
        }
        output.WriteLine($"{kind}: pure bf16 changed {changed / total:P2} of the weights in 3 steps at lr 5e-6; bf16-mixed masters all of them");
        Assert.True(changed / total < 0.1, $"pure bf16 kept {changed / total:P1} of 3 updates at lr 5e-6 (expected most to round away)");
    }

    [Fact]
    public void The_ema_of_float32_masters_moves_at_decay_0995_and_equals_the_float64_closed_form()
    {
        using var scope = torch.NewScope();
        using var net = new Net(6);
        using var mp = new MixedPrecisionParameters(net, AptLab.Training.Precision.Bf16Mixed);
        const double decay = 0.995;
        using var ema = new EMA(mp.named_masters(), decay);
        var e0 = mp.Masters.Select(m => m.to(ScalarType.Float64)).ToArray();
        var sum = e0.Select(t => torch.zeros_like(t)).ToArray();
        using var g = new Generator(7);
        const int n = 6;
        for (int k = 0; k < n; k++)
        {
            using (torch.no_grad())
                foreach (var m in mp.Masters) m.add_(torch.randn(m.shape, generator: g) * 1e-3);   // what an optimizer step does
            for (int i = 0; i < sum.Length; i++) sum[i] = sum[i] * decay + mp.Masters[i].to(ScalarType.Float64) * (1 - decay);
            ema.update(mp.named_masters());
        }
        var shadows = ema.named_shadows().ToList();
        for (int i = 0; i < e0.Length; i++)
        {
            var closed = e0[i] * Math.Pow(decay, n) + sum[i];          // e_n = d^n e_0 + sum_k (1 - d) d^(n-1-k) p_k
            Assert.Equal(ScalarType.Float32, shadows[i].shadow.dtype);
            double err = (shadows[i].shadow.to(ScalarType.Float64) - closed).abs().max().item<double>();
            double moved = (shadows[i].shadow.to(ScalarType.Float64) - e0[i]).abs().max().item<double>();
            Assert.True(err < 2e-7, $"{shadows[i].name}: EMA differs from the closed form by {err:E2}");
            Assert.True(moved > 1e-5, $"{shadows[i].name}: EMA moved only {moved:E2}");
        }
        // a bf16 shadow at 1 following weights one bf16 step above (1 + 2^-7) does not move in 100 updates (each
        // increment, 0.005 x 2^-7 = 3.9e-5, is below half of bf16's spacing at 1), a float32 one moves 2^-7 (1 - 0.995^100)
        var bf = torch.ones([16], ScalarType.BFloat16);
        var f32 = torch.ones([16]);
        var target = torch.full([16], 1 + 1.0 / 128);
        for (int k = 0; k < 100; k++)
        {
            bf.lerp_(target.to(ScalarType.BFloat16), 1 - decay);
            f32.lerp_(target, 1 - decay);
        }
        Assert.True(bf.eq(1.0).all().item<bool>());
        Assert.Equal((1.0 / 128) * (1 - Math.Pow(decay, 100)), f32.mean().item<double>() - 1, 6);
        // the EMA of a pure-bf16 model keeps float32 shadows too, so it moves
        using var pure = new Net(6);
        using var bp = new MixedPrecisionParameters(pure, AptLab.Training.Precision.Bf16);
        using var ema16 = new EMA(bp.named_masters(), decay);
        var s0 = ema16.named_shadows().First().shadow.clone();
        using (torch.no_grad()) bp.Masters[0].add_(0.25);
        ema16.update(bp.named_masters());
        Assert.Equal(ScalarType.Float32, s0.dtype);
        Assert.True((ema16.named_shadows().First().shadow - s0).abs().min().item<double>() > 1e-3);
    }
}
