using AptLab.Torch.nn;

namespace AptLab.Tests.Engine;

/// <summary>BatchNorm (train and eval) and the generic pooling entry points, against values computed by hand.</summary>
public class BatchNormPoolingTests
{
    [Fact]
    public void BatchNorm_trains_on_batch_statistics_and_moves_the_running_ones_with_momentum()
    {
        using var scope = torch.NewScope();
        using var bn = new BatchNorm1d(2, eps: 0, momentum: 0.25);
        var x = torch.tensor(new float[] { 1, 10, 3, 20, 5, 30 }, 3, 2);     // channel 0: 1 3 5, channel 1: 10 20 30
        var y = bn.forward(x);
        // batch mean (3, 20), biased variance (8/3, 200/3) normalises; the running variance takes the unbiased (4, 100).
        Assert.Equal(-2 / Math.Sqrt(8.0 / 3), y[0][0].item<float>(), 5);
        Assert.Equal(10 / Math.Sqrt(200.0 / 3), y[2][1].item<float>(), 5);
        Assert.Equal(new float[] { 0.75f, 5f }, bn.running_mean.data<float>());              // 0.75 * 0 + 0.25 * mean
        Assert.Equal(new float[] { 1.75f, 25.75f }, bn.running_var.data<float>());          // 0.75 * 1 + 0.25 * var
        Assert.Equal(1L, bn.state_dict()["num_batches_tracked"].item<long>());
        bn.eval();
        using (torch.no_grad()) { bn.weight!.fill_(2); bn.bias!.fill_(1); }
        var z = bn.forward(x);                                                // eval: (x - running_mean) / sqrt(running_var) * 2 + 1
        Assert.Equal((1 - 0.75) / Math.Sqrt(1.75) * 2 + 1, z[0][0].item<float>(), 5);
        Assert.Equal(1L, bn.state_dict()["num_batches_tracked"].item<long>());
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], bn.state_dict().Keys);
    }

    [Fact]
    public void Pooling_counts_padding_only_when_asked_and_takes_per_dim_kernels()
    {
        using var scope = torch.NewScope();
        var x = torch.ones(1, 1, 3, 3);
        // 3x3 average, stride 1, padding 1: the corner window holds 4 real ones of 9 cells.
        Assert.Equal(4f / 9, F.avg_pool(x, [3, 3], [1, 1], [1, 1]).data<float>()[0], 6);
        Assert.Equal(1f, F.avg_pool(x, [3, 3], [1, 1], [1, 1], count_include_pad: false).data<float>()[0], 6);
        var v = torch.arange(0, 24, dtype: ScalarType.Float32).view(1, 1, 2, 3, 4);             // [T=2, H=3, W=4]
        var m = F.max_pool(v, [2, 1, 2], [1, 1, 2]);                                             // over T and W pairs
        Assert.Equal([1L, 1, 1, 3, 2], m.shape);
        Assert.Equal(new float[] { 13, 15, 17, 19, 21, 23 }, m.data<float>());
        var a = F.avg_pool(torch.arange(0, 6, dtype: ScalarType.Float32).view(1, 1, 6), [3]);    // 1-D: (0+1+2)/3, (3+4+5)/3
        Assert.Equal(new float[] { 1, 4 }, a.data<float>());
    }
}
