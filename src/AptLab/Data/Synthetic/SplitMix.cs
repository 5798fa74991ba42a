namespace AptLab.Data.Synthetic;

/// <summary>SplitMix64: a tiny, well-mixed, portable generator (System.Random's sequence is not specified), so the
/// synthetic datasets are the same on every machine.</summary>
internal struct SplitMix(ulong state)
{
    private ulong s = state;

    public ulong NextU64()
    {
        ulong z = s += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public int Next(int n) => (int)(NextU64() % (ulong)n);
    public float NextFloat() => (NextU64() >> 40) / (float)(1UL << 24);
    /// <summary>Uniform in [a, b).</summary>
    public double Uniform(double a, double b) => a + (b - a) * ((NextU64() >> 11) / (double)(1UL << 53));
}
