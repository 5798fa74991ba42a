namespace AptLab.Tests.Engine;

public class CheckpointTests
{
    [Fact]
    public void Checkpointed_function_passes_gradients_to_inputs_and_captured_parameters()
    {
        using var _ = torch.NewScope();
        using var g = new Generator(1);
        var w = torch.randn([3, 3], generator: g).requires_grad_();
        var w2 = torch.randn([3, 3], generator: g).requires_grad_();
        var a = torch.randn([2, 3], generator: g);
        var c = torch.randn([2, 3], generator: g).requires_grad_();

        Tensor F(Tensor x, Tensor cc) => (x.matmul(w).tanh() + cc).pow(2);
        F(a.matmul(w2), c).sum().backward();
        var (gw, gw2, gc) = (w.grad!, w2.grad!, c.grad!);
        w.grad = null; w2.grad = null; c.grad = null;

        var y = Autograd.checkpoint(xs => [F(xs[0], xs[1])], a.matmul(w2), c)[0];
        Assert.True(y.requires_grad);
        y.sum().backward();
        Assert.Equal(gw.data<float>(), w.grad!.data<float>());
        Assert.Equal(gw2.data<float>(), w2.grad!.data<float>());   // through the checkpoint's input
        Assert.Equal(gc.data<float>(), c.grad!.data<float>());
    }
}
