using AptLab.Training;

namespace AptLab.Tests.Distributed;

public class DistributedSamplerTests
{
    // torch.utils.data.DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=True, seed=7), set_epoch(2),
    // printed by PyTorch 1.13.1 (Debian python3-torch) on the same libtorch.
    private static readonly long[][] PyTorchPadded = [[0, 7, 9, 3], [5, 6, 1, 0], [8, 2, 4, 5]];
    private static readonly long[][] PyTorchDropLast = [[0, 7, 9], [5, 6, 1], [8, 2, 4]];

    [Fact]
    public void MatchesPyTorchForTheSameSeedAndEpoch()
    {
        for (int r = 0; r < 3; r++)
        {
            var padded = new DistributedSampler(10, 3, r, shuffle: true, seed: 7);
            padded.set_epoch(2);
            Assert.Equal(PyTorchPadded[r], padded.Indices());
            var dropped = new DistributedSampler(10, 3, r, shuffle: true, seed: 7, dropLast: true);
            dropped.set_epoch(2);
            Assert.Equal(PyTorchDropLast[r], dropped.Indices());
        }
    }

    [Theory]
    [InlineData(64, 2)]
    [InlineData(10, 4)]
    [InlineData(3, 5)]
    public void ShardsCoverTheDatasetWithEqualLengths(int n, int replicas)
    {
        var shards = Enumerable.Range(0, replicas).Select(r => new DistributedSampler(n, replicas, r, seed: 1).Indices()).ToArray();
        long per = (n + replicas - 1) / replicas;
        Assert.All(shards, s => Assert.Equal(per, s.Length));
        var all = shards.SelectMany(s => s).ToArray();
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), all.Distinct().Order());   // every sample, padding repeats
        Assert.Equal(per * replicas - n, all.Length - all.Distinct().Count());
    }

    [Fact]
    public void ReshufflesPerEpochAndRepeatsAnEpoch()
    {
        var s = new DistributedSampler(100, 2, 1, seed: 5);
        var e0 = s.Indices();
        s.set_epoch(1);
        var e1 = s.Indices();
        s.set_epoch(0);
        Assert.Equal(e0, s.Indices());
        Assert.NotEqual(e0, e1);
        var ordered = new DistributedSampler(7, 2, 1, shuffle: false).Indices();
        Assert.Equal(new long[] { 1, 3, 5, 0 }, ordered);   // 0..6 padded with 0, every 2nd from 1
    }

    [Fact]
    public void BadArgumentsNameTheProblem()
    {
        Assert.Contains("rank 2", Assert.Throws<ArgumentException>(() => new DistributedSampler(10, 2, 2)).Message);
        Assert.Contains("dataset length 0", Assert.Throws<ArgumentException>(() => new DistributedSampler(0, 2, 0)).Message);
        Assert.Contains("numReplicas=0 must be at least 1", Assert.Throws<ArgumentException>(() => new DistributedSampler(4, 0, 0)).Message);
        Assert.Contains("rank -1", Assert.Throws<ArgumentException>(() => new DistributedSampler(4, 2, -1)).Message);
        Assert.Contains("dropLast with 2 samples leaves nothing for 3 replicas",
            Assert.Throws<ArgumentException>(() => new DistributedSampler(2, 3, 0, dropLast: true)).Message);
        Assert.Equal(1, new DistributedSampler(1, 1, 0).NumSamples);                      // the bounds themselves are fine
        Assert.Equal(1, new DistributedSampler(3, 3, 2, dropLast: true).NumSamples);
    }

    /// <summary>torch.utils.data.DistributedSampler's lengths: ceil(N / R) padded by wrapping, or with drop_last
    /// ceil((N - R) / R) when R does not divide N (the tail cut), N / R when it does.</summary>
    [Theory]
    [InlineData(10, 3, false, 4)]
    [InlineData(10, 3, true, 3)]
    [InlineData(9, 3, true, 3)]
    [InlineData(9, 3, false, 3)]
    [InlineData(11, 4, true, 2)]
    [InlineData(1, 4, false, 1)]
    public void Lengths_follow_pytorch_with_and_without_drop_last(int n, int replicas, bool dropLast, int perRank)
    {
        var shards = Enumerable.Range(0, replicas).Select(r => new DistributedSampler(n, replicas, r, shuffle: false, dropLast: dropLast)).ToArray();
        Assert.All(shards, s => Assert.Equal(perRank, s.NumSamples));
        Assert.All(shards, s => Assert.Equal((long)perRank * replicas, s.TotalSize));
        var seen = shards.SelectMany(s => s.Indices()).ToArray();
        Assert.Equal(perRank * replicas, seen.Length);
        if (dropLast) Assert.Equal(seen.Length, seen.Distinct().Count());               // nothing repeated, the tail cut
        Assert.Equal(new long[] { 0 }, DistributedSampler.For(null, n, shuffle: false).Indices().Take(1));
        Assert.Equal(n, DistributedSampler.For(null, n, shuffle: false).NumSamples);    // no group: rank 0 of 1
    }
}
