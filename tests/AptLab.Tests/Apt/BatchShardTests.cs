using AptLab.Apt;
using AptLab.Diffusion;

namespace AptLab.Tests.Apt;

/// <summary>
/// One rank's share of a global micro-batch (docs/apt.md, data-parallel APT): rank r of N keeps rows
/// [r b, (r + 1) b), b = B / N, of every batch-first tensor, and its draws are those rows of the draw a single process
/// makes for the whole batch from the same generator state. A shard that takes the wrong rows, draws only its own
/// rows, or splits a batch that does not divide would give other numbers here.
/// </summary>
public class BatchShardTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(0, 2)]
    [InlineData(1, 2)]
    [InlineData(3, 4)]
    public void A_valid_rank_and_world_size_are_kept(int rank, int world)
    {
        var s = new BatchShard(rank, world);
        Assert.Equal((rank, world), (s.Rank, s.WorldSize));
        Assert.Equal(world == 1, s.IsWhole);
    }

    [Theory]
    [InlineData(-1, 2)]
    [InlineData(2, 2)]
    [InlineData(0, 0)]
    [InlineData(5, 4)]
    public void An_impossible_rank_is_refused_naming_both_numbers(int rank, int world)
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchShard(rank, world));
        Assert.Contains($"rank {rank}", e.Message);
        Assert.Contains($"world size {world}", e.Message);
    }

    [Fact]
    public void Whole_is_one_process_and_returns_the_batch_itself()
    {
        Assert.True(BatchShard.Whole.IsWhole);
        Assert.Equal((0, 1), (BatchShard.Whole.Rank, BatchShard.Whole.WorldSize));
        using var x = torch.arange(6).reshape(3, 2);
        Assert.Same(x, BatchShard.Whole.Of(x));
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(1, 3)]
    [InlineData(2, 3)]
    public void Each_rank_keeps_its_contiguous_block_of_rows(int rank, int world)
    {
        using var scope = torch.NewScope();
        var x = torch.arange(6 * 2).reshape(6, 2);                       // [6, 2], row i = (2i, 2i + 1)
        var rows = new BatchShard(rank, world).Of(x);
        Assert.Equal([2L, 2L], rows.shape);
        Assert.Equal(new long[] { 4 * rank, 4 * rank + 1, 4 * rank + 2, 4 * rank + 3 }, rows.reshape(-1).data<long>());
    }

    [Fact]
    public void A_batch_that_does_not_split_over_the_ranks_is_refused()
    {
        using var x = torch.zeros(5, 2);
        var e = Assert.Throws<ArgumentException>(() => new BatchShard(1, 2).Of(x));
        Assert.Contains("5 samples", e.Message);
        Assert.Contains("2 ranks", e.Message);
    }

    [Fact]
    public void Real_batches_and_conditionings_are_split_in_every_tensor()
    {
        using var scope = torch.NewScope();
        var latents = torch.arange(4).to(ScalarType.Float32).reshape(4, 1);
        var extra = new Dictionary<string, Tensor> { ["pose"] = torch.arange(40, 44).reshape(4, 1) };
        var c = new Conditioning(torch.arange(10, 14).reshape(4, 1), torch.arange(20, 24).reshape(4, 1), torch.arange(30, 34).reshape(4, 1),
            torch.arange(50, 54).reshape(4, 1), extra);
        var shard = new BatchShard(1, 2);
        var b = shard.Of(new RealBatch(latents, c));
        Assert.Equal(new float[] { 2, 3 }, b.Latents.reshape(-1).data<float>());
        Assert.Equal(new long[] { 12, 13 }, b.Condition.Context.reshape(-1).data<long>());
        Assert.Equal(new long[] { 22, 23 }, b.Condition.ClipFeatures!.reshape(-1).data<long>());
        Assert.Equal(new long[] { 32, 33 }, b.Condition.Y!.reshape(-1).data<long>());
        Assert.Equal(new long[] { 52, 53 }, b.Condition.Audio!.reshape(-1).data<long>());
        Assert.Equal(new long[] { 42, 43 }, b.Condition.Extras!["pose"].reshape(-1).data<long>());
        var whole = new RealBatch(latents, c);
        Assert.Same(whole, BatchShard.Whole.Of(whole));
        Assert.Same(c, BatchShard.Whole.Of(c));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void A_ranks_noise_is_its_rows_of_the_whole_batchs_draw(int world)
    {
        using var scope = torch.NewScope();
        var local = torch.zeros([2, 3, 5], ScalarType.Float64);
        Tensor whole;
        using (var g = new Generator(7)) whole = BatchShard.Whole.Randn(torch.zeros([2 * world, 3, 5], ScalarType.Float64), g);
        Assert.Equal(ScalarType.Float64, whole.dtype);
        for (int r = 0; r < world; r++)
        {
            using var g = new Generator(7);
            var mine = new BatchShard(r, world).Randn(local, g);
            Assert.Equal(local.shape, mine.shape);
            Assert.Equal(ScalarType.Float64, mine.dtype);
            Assert.True(mine.is_contiguous());
            Assert.Equal(whole.narrow(0, 2 * r, 2).reshape(-1).data<double>(), mine.reshape(-1).data<double>());
        }
        using (var g = new Generator(7))                                  // one process draws the local shape itself
        using (var h = new Generator(7))
            Assert.Equal(torch.randn([2, 3, 5], ScalarType.Float64, generator: h).reshape(-1).data<double>(),
                BatchShard.Whole.Randn(local, g).reshape(-1).data<double>());
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(5.0)]
    public void A_ranks_timesteps_are_its_rows_of_the_whole_batchs_shifted_draw(double shift)
    {
        using var scope = torch.NewScope();
        double[] whole;
        using (var g = new Generator(9)) whole = FlowMatch.SampleSigmas(6, shift, g, Device.CPU).to(ScalarType.Float64).data<double>();
        for (int r = 0; r < 3; r++)
        {
            using var g = new Generator(9);
            var t = new BatchShard(r, 3).Timesteps(2, shift, g, Device.CPU);
            Assert.Equal([2L], t.shape);
            Assert.Equal(whole.Skip(2 * r).Take(2), t.to(ScalarType.Float64).data<double>());
        }
        using (var g = new Generator(9))
            Assert.Equal(whole.Take(2), BatchShard.Whole.Timesteps(2, shift, g, Device.CPU).to(ScalarType.Float64).data<double>());
    }
}
