using AptLab.Apt;
using AptLab.Wan;

namespace AptLab.Tests.Apt;

/// <summary>
/// The consistency-distillation loss split over ranks: every rank draws n and eps for the global batch from the same
/// generator and computes its rows. The mean of the ranks' losses and of their gradients (what data-parallel
/// averaging gives) equals the single process's loss and gradient on the whole batch (float64: to rounding), and the
/// draws are the single process's. A rank computing the whole batch, or drawing only its rows, would differ at O(1).
/// </summary>
public class CdDataParallelTests
{
    private static readonly WanConfig Cfg = WanConfig.TinyT2V with { NumLayers = 2, TextLen = 8 };

    private static WanFlowModel Tiny(ulong seed)
    {
        torch.manual_seed(seed);
        var m = new WanFlowModel(new WanModel(Cfg, ScalarType.Float64));
        using (torch.no_grad()) m.Net.head.head.weight.normal_(0, 0.05);
        return m;
    }

    [Fact]
    public void The_ranks_average_loss_and_gradient_equal_one_process_on_the_whole_batch()
    {
        using var scope = torch.NewScope();
        using var teacher = Tiny(1);
        using var student = Tiny(2);
        var s = new CdSettings { Steps = 8, Shift = 3, Guidance = 3 };
        using var data = new Generator(3);
        var x0 = torch.randn([4, 16, 1, 4, 4], ScalarType.Float64, generator: data);
        var c = new Conditioning(torch.randn([4, 5, Cfg.TextDim], ScalarType.Float64, generator: data));
        var neg = new Conditioning(torch.zeros([4, 5, Cfg.TextDim], ScalarType.Float64));
        var ps = student.Module.parameters().ToArray();

        (double loss, Tensor[] grads, long[] steps) Run(BatchShard? shard)
        {
            using var g = new Generator(4);
            var (loss, steps) = ConsistencyDistillation.Loss(student, teacher, x0, c, neg, s, g, shard: shard);
            loss.backward();
            var grads = ps.Select(p => p.grad!.clone().DetachFromScope()).ToArray();
            foreach (var p in ps) p.grad = null;
            return (loss.item<double>(), grads, steps.data<long>());
        }
        var whole = Run(null);
        var r0 = Run(new BatchShard(0, 2));
        var r1 = Run(new BatchShard(1, 2));
        Assert.Equal(whole.steps, r0.steps.Concat(r1.steps));                          // the same draws, split
        Assert.Equal(2, r0.steps.Length);
        Assert.Equal(whole.loss, (r0.loss + r1.loss) / 2, 12);
        Assert.True(Math.Abs(r0.loss - r1.loss) > 1e-6 * whole.loss);                  // the ranks really computed different rows
        for (int i = 0; i < ps.Length; i++)
        {
            var avg = (r0.grads[i] + r1.grads[i]) / 2;
            double err = (avg - whole.grads[i]).abs().max().item<double>();
            Assert.True(err <= 1e-12 * Math.Max(whole.grads[i].abs().max().item<double>(), 1e-3), $"parameter {i}: gradient differs by {err:E2}");
        }
    }
}
