using AptLab.Evaluation.Sync;

namespace AptLab.Tests.Evaluation.Sync;

/// <summary>SyncNet's offset search on embeddings whose true shift is known.</summary>
public class OffsetSearchTests
{
    // lip[i] = E[m + i], aud[j] = E[m + j + k]: lip window i matches audio window i - k, so the AV offset is k.
    private static (float[,] lip, float[,] aud) Shifted(int windows, int dims, int k, int seed)
    {
        var rng = new Random(seed);
        int m = 20;
        var e = new float[windows + 2 * m + 40, dims];
        for (int i = 0; i < e.GetLength(0); i++) for (int c = 0; c < dims; c++) e[i, c] = (float)(rng.NextDouble() * 2 - 1);
        var lip = new float[windows, dims];
        var aud = new float[windows, dims];
        for (int i = 0; i < windows; i++)
            for (int c = 0; c < dims; c++) { lip[i, c] = e[m + i, c]; aud[i, c] = e[m + i + k, c]; }
        return (lip, aud);
    }

    [Theory]
    [InlineData(-14)] [InlineData(-7)] [InlineData(-1)] [InlineData(0)] [InlineData(1)] [InlineData(5)] [InlineData(12)]
    public void A_known_shift_is_recovered_exactly_with_the_closed_form_distances(int k)
    {
        int w = 48, d = 64;
        var (lip, aud) = Shifted(w, d, k, 100 + k);
        var s = SyncScores.FromEmbeddings(lip, aud, vshift: 15);
        Assert.Equal(k, s.Offset);
        Assert.Equal(31, s.MeanDists.Length);
        // At the true shift, matched windows give ||1e-6 (1, .., 1)|| and windows paired with padding give ||lip_i + 1e-6||.
        double expected = 0;
        for (int i = 0; i < w; i++)
        {
            int j = i - k;
            double sq = 0;
            for (int c = 0; c < d; c++) { double v = lip[i, c] - (j >= 0 && j < w ? aud[j, c] : 0) + 1e-6; sq += v * v; }
            expected += Math.Sqrt(sq);
        }
        Assert.Equal(expected / w, s.MinDist, 10);
        var sorted = s.MeanDists.OrderBy(x => x).ToArray();
        Assert.Equal(sorted[15] - sorted[0], s.Confidence, 12);              // median of 31 values = the 16th smallest
        Assert.True(s.Confidence > 1);
    }

    [Fact]
    public void Ties_take_the_first_index_and_an_even_count_takes_the_lower_median()
    {
        // One window, all-zero embeddings: every shift gives ||1e-6 * 1||, so argmin = 0 and the offset is +vshift.
        var s = SyncScores.FromEmbeddings(new float[1, 4], new float[1, 4], vshift: 2);
        Assert.Equal(2, s.Offset);
        Assert.Equal(0, s.Confidence);
        Assert.Equal(2e-6, s.MinDist, 15);
        // vshift 0 gives one column; its median is itself.
        Assert.Equal(0, SyncScores.FromEmbeddings(new float[,] { { 1 } }, new float[,] { { 3 } }, vshift: 0).Confidence);
    }

    [Fact]
    public void Window_count_is_one_fewer_than_the_complete_five_frame_windows()
    {
        Assert.Equal(3, SyncEvaluator.WindowCount(8, 640 * 8));
        Assert.Equal(3, SyncEvaluator.WindowCount(100, 640 * 8 + 639));     // audio shorter: it decides
        Assert.Equal(20, SyncEvaluator.WindowCount(25, 640 * 30));
    }
}
