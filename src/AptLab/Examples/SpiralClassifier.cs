using AptLab.Torch.nn;

namespace AptLab.Examples;

/// <summary>
/// The engine's end-to-end check until the APT study exists: an MLP learns to separate three interleaved
/// spirals (a classic non-linear toy problem) with cross-entropy, backprop and a gradient step per batch,
/// all on libtorch through the binding. Loss falls from ln 3 ~ 1.10 towards 0; accuracy rises above 90 %.
/// </summary>
public static class SpiralClassifier
{
    public sealed record Result(double InitialLoss, double FinalLoss, double FinalAccuracy);

    private sealed class Mlp : Module<Tensor, Tensor>
    {
        private readonly Sequential net;
        public Mlp(int hidden) => net = RegisterModule("net", new Sequential(
            new Linear(2, hidden), new GELU(), new Linear(hidden, hidden), new GELU(), new Linear(hidden, 3)));
        public override Tensor forward(Tensor x) => net.forward(x);   // x: [N, 2] -> logits [N, 3]
    }

    /// <summary>points [3n, 2] and labels [3n] of three spirals with a little noise.</summary>
    public static (Tensor points, Tensor labels) Spirals(int perClass, Generator g)
    {
        using var scope = torch.NewScope();
        var r = torch.linspace(0.05, 1, perClass).repeat(3);                                      // [3n]
        var k = torch.arange(3).repeat_interleave(perClass, 0);                                  // [3n]
        var theta = r * 4.0 + k.to(torch.float32) * (2 * Math.PI / 3) + torch.randn([3L * perClass], generator: g) * 0.15;
        var points = torch.stack(new[] { r * theta.cos(), r * theta.sin() }, 1);                   // [3n, 2]
        return (scope.Keep(points), scope.Keep(k));
    }

    public static Result Train(int steps, ulong seed, TextWriter log)
    {
        torch.manual_seed(seed);
        using var g = new Generator(seed);
        var (points, labels) = Spirals(300, g);
        using var model = new Mlp(64);
        var parameters = model.parameters().ToArray();
        const double lr = 0.5;
        double first = double.NaN, last = double.NaN;
        log.WriteLine($"spiral classifier: {model.num_parameters()} parameters, {points.size(0)} points, libtorch {torch.version}");
        for (int step = 0; step <= steps; step++)
        {
            using var _ = torch.NewScope();
            var loss = F.cross_entropy(model.forward(points), labels);
            loss.backward();
            using (torch.no_grad())
                foreach (var p in parameters) { p.add_(p.grad!, -lr); p.grad = null; }
            last = loss.item<double>();
            if (step == 0) first = last;
            if (step % (steps / 10) == 0) log.WriteLine($"  step {step,5}  loss {last:F4}");
        }
        double accuracy;
        using (var _ = torch.NewScope())
        using (torch.no_grad())
            accuracy = model.forward(points).argmax(1).eq(labels).to(torch.float32).mean().item<double>();
        log.WriteLine($"loss {first:F4} -> {last:F4}, training accuracy {accuracy:P1}");
        points.Dispose();
        labels.Dispose();
        return new Result(first, last, accuracy);
    }
}
