using AptLab.Torch.nn;

namespace AptLab.Tests.Engine;

public class ModuleTests
{
    private sealed class Block : Module<Tensor, Tensor>
    {
        public readonly Linear q;
        public readonly LayerNorm norm;
        public readonly Parameter scale;
        public Block()
        {
            q = RegisterModule("q", new Linear(4, 4));
            norm = RegisterModule("norm", new LayerNorm(4));
            scale = RegisterParameter("scale", torch.ones(4));
            RegisterBuffer("freqs", torch.arange(4, dtype: torch.float32));
            RegisterBuffer("cache", torch.zeros(2), persistent: false);
        }
        public override Tensor forward(Tensor x) { using var s = torch.NewScope(); return s.Keep(norm.forward(q.forward(x)) * scale); }
    }

    private sealed class Net : Module<Tensor, Tensor>
    {
        public readonly ModuleList<Block> blocks;
        public readonly Linear head;
        public Net()
        {
            blocks = RegisterModule("blocks", new ModuleList<Block>(new[] { new Block(), new Block() }));
            head = RegisterModule("head", new Linear(4, 2, bias: false));
        }
        public override Tensor forward(Tensor x)
        {
            using var s = torch.NewScope();
            foreach (var b in blocks) x = b.forward(x);
            return s.Keep(head.forward(x));
        }
    }

    [Fact]
    public void State_dict_names_follow_pytorch()
    {
        using var net = new Net();
        var keys = net.state_dict().Keys.ToArray();
        Assert.Equal(new[]
        {
            "blocks.0.scale", "blocks.0.freqs", "blocks.0.q.weight", "blocks.0.q.bias", "blocks.0.norm.weight", "blocks.0.norm.bias",
            "blocks.1.scale", "blocks.1.freqs", "blocks.1.q.weight", "blocks.1.q.bias", "blocks.1.norm.weight", "blocks.1.norm.bias",
            "head.weight",
        }, keys);
        Assert.Equal(2 * (4 + 16 + 4 + 8) + 8, net.num_parameters());
        Assert.Contains("blocks.0.cache", net.named_buffers().Select(b => b.name));
    }

    [Fact]
    public void Load_state_dict_copies_values_and_reports_every_problem()
    {
        using var a = new Net();
        using var b = new Net();
        b.load_state_dict(a.state_dict());
        using (var _ = torch.NewScope())
        {
            var x = torch.randn(3, 4);
            TensorAssert.Close(a.forward(x), b.forward(x), atol: 0, rtol: 0);
        }

        using var scope = torch.NewScope();
        var bad = new Dictionary<string, Tensor>(a.state_dict());
        bad.Remove("head.weight");
        bad["blocks.0.q.weight"] = torch.zeros(4, 5);
        bad["blocks.9.extra"] = torch.zeros(3);
        var e = Assert.Throws<InvalidDataException>(() => b.load_state_dict(bad, source: "ckpt.safetensors"));
        Assert.Contains("ckpt.safetensors", e.Message);
        Assert.Contains("missing keys (1): head.weight [2, 4]", e.Message);
        Assert.Contains("unexpected keys (1): blocks.9.extra [3]", e.Message);
        Assert.Contains("size mismatch for blocks.0.q.weight: checkpoint has [4, 5], model expects [4, 4]", e.Message);
        // Nothing was copied: b still equals a.
        TensorAssert.Close(a.blocks[0].q.weight, b.blocks[0].q.weight, atol: 0, rtol: 0);
        // Non-strict loading skips missing/unexpected keys but still refuses shape mismatches.
        bad["blocks.0.q.weight"] = torch.zeros(4, 4);
        var (missing, unexpected) = b.load_state_dict(bad, strict: false);
        Assert.Equal(new[] { "head.weight" }, missing);
        Assert.Equal(new[] { "blocks.9.extra" }, unexpected);
        Assert.Equal(0, b.blocks[0].q.weight.abs().sum().item<double>());
    }

    [Fact]
    public void To_converts_in_place_and_freezing_stops_gradients()
    {
        using var net = new Net();
        var w = net.head.weight;
        net.to(torch.float64);
        Assert.Same(w, net.head.weight);                      // parameters keep their identity
        Assert.Equal(ScalarType.Float64, w.dtype);
        Assert.Equal(ScalarType.Float64, net.state_dict()["blocks.0.freqs"].dtype);
        net.blocks.requires_grad_(false);
        using var _ = torch.NewScope();
        net.forward(torch.randn([2, 4], torch.float64)).sum().backward();
        Assert.Null(net.blocks[0].q.weight.grad);
        Assert.NotNull(net.head.weight.grad);
        net.zero_grad();
        Assert.Null(net.head.weight.grad);
        Assert.Contains("head: Linear (weight[2, 4])", net.ToString());
    }

    [Fact]
    public void Linear_initialisation_matches_pytorch_bounds()
    {
        using var lin = new Linear(256, 64);
        // kaiming_uniform(a = sqrt 5) gives U(-1/sqrt(in), 1/sqrt(in)) for the weight and the bias.
        double bound = 1 / Math.Sqrt(256);
        Assert.True(lin.weight.abs().max().item<double>() <= bound);
        Assert.InRange(lin.weight.std().item<double>(), bound / Math.Sqrt(3) * 0.95, bound / Math.Sqrt(3) * 1.05);
        Assert.True(lin.bias!.abs().max().item<double>() <= bound);
    }
}
