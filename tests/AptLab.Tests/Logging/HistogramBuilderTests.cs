using AptLab.Logging;

namespace AptLab.Tests.Logging;

// Expected values computed with numpy 1.24 (np.histogram + PyTorch 1.13's trimming rule) in Debian python3.
public class HistogramBuilderTests
{
    [Fact]
    public void TensorFlowEdgesCountAndSymmetry()
    {
        var e = HistogramBuilder.TensorFlowEdges;
        Assert.Equal(1549, e.Length);
        Assert.Equal(0.0, e[774]);
        Assert.Equal(1e-12, e[775]);
        for (int i = 0; i < e.Length; i++) Assert.Equal(-e[i], e[e.Length - 1 - i]);
        for (int i = 1; i < e.Length; i++) Assert.True(e[i] > e[i - 1]);
    }

    [Fact]
    public void DefaultBinsMatchNumpyAndPyTorchTrimming()
    {
        double[] values = [-3.0, -0.5, 0.0, 0.001, 0.2, 0.2, 7.5];
        var h = HistogramBuilder.Build(values);
        Assert.Equal(-3.0, h.Min);
        Assert.Equal(7.5, h.Max);
        Assert.Equal(7, h.Num);
        Assert.Equal(4.401, h.Sum, 12);
        Assert.Equal(65.580001, h.SumSquares, 10);
        Assert.Equal(617, h.BucketLimit.Length);
        Assert.Equal(617, h.Bucket.Length);
        Assert.Equal(7, h.Bucket.Sum());
        var nonzero = Enumerable.Range(0, h.Bucket.Length).Where(i => h.Bucket[i] > 0).ToArray();
        Assert.Equal([1, 20, 304, 522, 578, 616], nonzero);
        Assert.Equal(2, h.Bucket[578]);
        Assert.Equal(-2.8787120958073054, h.BucketLimit[1], 14);
        Assert.Equal(-0.47069243095356195, h.BucketLimit[20], 15);
        Assert.Equal(1e-12, h.BucketLimit[304]);
        Assert.Equal(0.001055857634516068, h.BucketLimit[522], 15);
        Assert.Equal(0.2195814928486969, h.BucketLimit[578], 15);
        Assert.Equal(8.213301572628762, h.BucketLimit[616], 13);
        Assert.Equal(-3.1665833053880363, h.BucketLimit[0], 13);   // the kept empty bin before the first value
        Assert.Equal(0, h.Bucket[0]);
    }

    [Fact]
    public void ExplicitEdgesFirstBinOccupied()
    {
        var h = HistogramBuilder.Build([0.5, 1.5, 1.5, 2.5, 5.0], [0, 1, 2, 3, 4, 5]);
        Assert.Equal([0.0, 1, 2, 3, 4, 5], h.BucketLimit);
        Assert.Equal([0.0, 1, 2, 1, 0, 1], h.Bucket);             // 5.0 sits on the closed last edge
        Assert.Equal(11.0, h.Sum);
        Assert.Equal(36.0, h.SumSquares);
    }

    [Fact]
    public void ExplicitEdgesTrimBothSides()
    {
        var h = HistogramBuilder.Build([2.5, 3.5, 3.5], [0, 1, 2, 3, 4, 5]);
        Assert.Equal([2.0, 3, 4], h.BucketLimit);
        Assert.Equal([0.0, 1, 2], h.Bucket);
    }

    [Fact]
    public void LinearBinsLikeNumpyInt()
    {
        double[] v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        var h = HistogramBuilder.Build(v, HistogramBuilder.LinearEdges(v, 4));
        Assert.Equal([1.0, 3.25, 5.5, 7.75, 10.0], h.BucketLimit);
        Assert.Equal([0.0, 3, 2, 2, 3], h.Bucket);
    }

    [Fact]
    public void BadInputNamesTheTag()
    {
        var e = Assert.Throws<ArgumentException>(() => HistogramBuilder.Build([1.0, double.NaN], default, "grad/norm"));
        Assert.Contains("grad/norm", e.Message);
        Assert.Throws<ArgumentException>(() => HistogramBuilder.Build([], default, "w"));
    }
}
