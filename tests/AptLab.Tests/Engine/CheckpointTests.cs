using AptLab.Torch.nn;
using Xunit.Abstractions;

namespace AptLab.Tests.Engine;

/// <summary>Activation checkpointing (Autograd.checkpoint): same gradients as a plain call, less memory kept.</summary>
public class CheckpointTests(ITestOutputHelper output)
{
    /// <summary>A pre-norm residual MLP block: x + fc2(dropout(gelu(fc1(norm(x))))).</summary>
    internal sealed class Block : Module<Tensor, Tensor>
    {
        private readonly LayerNorm norm;
        private readonly Linear fc1, fc2;
        private readonly double dropout;

        public Block(long dim, long hidden, double dropout)
        {
            norm = RegisterModule("norm", new LayerNorm(dim));
            fc1 = RegisterModule("fc1", new Linear(dim, hidden));
            fc2 = RegisterModule("fc2", new Linear(hidden, dim));
            this.dropout = dropout;
        }

        public override Tensor forward(Tensor x)                 // x: [B, dim]
        {
            using var scope = torch.NewScope();
            var h = F.gelu(fc1.forward(norm.forward(x)));         // [B, hidden]
            if (dropout > 0) h = F.dropout(h, dropout, training);
            return scope.Keep(x + fc2.forward(h));
        }
    }

    internal sealed class Stack : Module<Tensor, Tensor>
    {
        public readonly ModuleList<Block> blocks;
        public bool checkpointing;

        public Stack(int depth, long dim, long hidden, int dropoutBlock = -1)
        {
            blocks = RegisterModule("blocks", new ModuleList<Block>(
                Enumerable.Range(0, depth).Select(i => new Block(dim, hidden, i == dropoutBlock ? 0.3 : 0))));
        }

        public override Tensor forward(Tensor x)
        {
            var h = x;
            foreach (var b in blocks) h = checkpointing ? Autograd.checkpoint(b.forward, h) : b.forward(h);
            return h;
        }
    }

    /// <summary>Runs forward + backward of sum(stack(x) * w) from a fixed RNG state; returns the loss, the
    /// gradients (input first, if it requires grad) and a number drawn from the RNG afterwards.</summary>
    private static (double loss, float[][] grads, float after) Run(Stack stack, Tensor x, Tensor w, bool checkpointing)
    {
        using var scope = torch.NewScope();
        stack.zero_grad();
        x.grad = null;
        stack.checkpointing = checkpointing;
        torch.manual_seed(77);
        var loss = (stack.forward(x) * w).sum();
        loss.backward();
        var grads = new List<float[]>();
        if (x.requires_grad) grads.Add(x.grad!.data<float>());
        foreach (var (name, p) in stack.named_parameters())
        {
            var g = p.grad ?? throw new Xunit.Sdk.XunitException($"no gradient for {name} (checkpointing={checkpointing})");
            grads.Add(g.data<float>());
        }
        return (loss.item<double>(), grads.ToArray(), torch.rand(1).item<float>());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]   // the stack's input does not require grad: only the captured parameters do
    public void Gradients_equal_those_without_checkpointing(bool inputRequiresGrad)
    {
        using var _ = torch.NewScope();
        torch.manual_seed(1);
        using var stack = new Stack(depth: 4, dim: 16, hidden: 32, dropoutBlock: 2);
        var x = torch.randn([8, 16], requires_grad: inputRequiresGrad);
        var w = torch.randn(8, 16);

        var plain = Run(stack, x, w, checkpointing: false);
        var ckpt = Run(stack, x, w, checkpointing: true);

        Assert.Equal(plain.loss, ckpt.loss, 5);
        Assert.Equal(plain.grads.Length, ckpt.grads.Length);
        Assert.Equal(inputRequiresGrad ? 1 + 4 * 6 : 4 * 6, plain.grads.Length);
        for (int i = 0; i < plain.grads.Length; i++)
            OptimizerTests.AssertClose(plain.grads[i], ckpt.grads[i], $"gradient {i}", rtol: 1e-6, atol: 1e-7);
        // The recomputation restored the RNG: the stream continues as if the block had run once.
        Assert.Equal(plain.after, ckpt.after);
        // Dropout really was active (a run with another seed gives another loss).
        torch.manual_seed(78);
        using (torch.NewScope()) Assert.NotEqual(plain.loss, (stack.forward(x) * w).sum().item<double>(), 5);
    }

    [Fact]
    public void Checkpointing_keeps_much_less_memory_after_the_forward()
    {
        using var _ = torch.NewScope();
        torch.manual_seed(2);
        using var stack = new Stack(depth: 8, dim: 512, hidden: 1024);
        var x = torch.randn([64, 512], requires_grad: true);
        long Retained(bool checkpointing)
        {
            using var scope = torch.NewScope();
            stack.checkpointing = checkpointing;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long before = torch.native_heap_bytes();
            var y = stack.forward(x);                                // activations kept for backward
            long retained = torch.native_heap_bytes() - before;
            y.sum().backward();                                      // and the backward still works
            Assert.NotNull(stack.blocks[0].parameters().First().grad);
            stack.zero_grad();
            x.grad = null;
            return retained;
        }
        Retained(false);                                             // warm up allocator and JIT
        long plain = Retained(false), ckpt = Retained(true);
        double ratio = (double)ckpt / plain;
        output.WriteLine($"heap retained after forward: plain {plain / 1048576.0:F2} MiB, checkpointed {ckpt / 1048576.0:F2} MiB, ratio {ratio:F3}");
        Assert.True(plain > 4 << 20, $"plain forward retained only {plain} bytes: the measurement is not seeing activations");
        Assert.True(ratio < 0.5, $"checkpointing retained {ratio:P0} of the plain forward's memory");
    }
}
