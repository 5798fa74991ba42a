namespace AptLab.Evaluation;

/// <summary>One method's scored samples from one training seed: features [N, D] (<see cref="ImageFeatures"/> or
/// <see cref="VideoFeatures"/>) and per-sample sharpness [N]. Every method and seed must be sampled from the SAME
/// noise and prompts (sample i of every method is comparable), which is what makes the bootstrap paired.</summary>
public sealed record SeedSamples(string Method, int Steps, int Nfe, ulong Seed, double[,] Features, double[] Sharpness);

/// <summary>A method's scores over its seeds: FD and sharpness as <see cref="Estimate"/>s whose intervals hold both the
/// seeds' spread (Student t) and the evaluation samples' (bootstrap), and the per-seed values.</summary>
public sealed record MethodEstimate(string Method, int Steps, int Nfe, IReadOnlyList<ulong> Seeds, Estimate FrechetDistance,
    Estimate Sharpness, IReadOnlyList<double> SeedFrechetDistances, IReadOnlyList<double> SeedSharpness);

/// <summary>What a paired difference measures.</summary>
public enum DifferenceMetric
{
    /// <summary>FD(method) - FD(baseline): below zero is closer to the real data.</summary>
    FrechetDistance,
    /// <summary>sharpness(method) - sharpness(baseline): above zero is sharper.</summary>
    Sharpness,
    /// <summary>|sharpness(method) - ref| - |sharpness(baseline) - ref|: below zero is closer to the reference's detail.</summary>
    SharpnessGap,
}

/// <summary>method - baseline on one metric, paired by seed, with the interval of <see cref="Estimate"/> (seeds'
/// t interval widened by the evaluation bootstrap).</summary>
public sealed record Difference(string Method, string Baseline, DifferenceMetric Metric, Estimate Value, bool PairedBySeed);

/// <summary>Options of <see cref="SeedComparison"/>: the confidence level, the bootstrap's size and seed.</summary>
public sealed record SeedComparisonOptions(double Confidence = 0.95, int Resamples = 100, ulong BootstrapSeed = 0)
{
    public void Validate()
    {
        Estimate.CheckConfidence(Confidence);
        if (Resamples < 2) throw new ArgumentException($"bootstrap resamples must be >= 2, got {Resamples}");
    }
}

/// <summary>
/// The aggregation of a study over training seeds (docs/evaluation.md#seeds-and-intervals): every method's FD and
/// sharpness over its seeds, and paired differences between methods. Two sources of uncertainty are combined:
/// <list type="bullet">
/// <item>training: the methods are trained with several independent seeds; the per-seed values (or per-seed paired
///   differences, when replicate s of the method was made from replicate s of the baseline) give a Student-t interval;</item>
/// <item>evaluation: the generated and held-out real samples are one finite draw; a bootstrap over them (the same
///   resampled indices for every method and seed: a paired bootstrap) gives the standard error of the seed-mean, as a
///   normal interval.</item>
/// </list>
/// The two half-widths add in quadrature (<see cref="Estimate.Widened"/>). A difference is called only where the
/// resulting interval excludes zero.
/// </summary>
public sealed class SeedComparison
{
    public IReadOnlyList<MethodEstimate> Methods { get; }
    public SeedComparisonOptions Options { get; }
    /// <summary>Per-sample sharpness of the reference that <see cref="DifferenceMetric.SharpnessGap"/> measures
    /// against (e.g. the real data through the VAE), or null.</summary>
    public double[]? SharpnessReference { get; }
    public double ReferenceSharpness => SharpnessReference?.Average() ?? double.NaN;

    private readonly Dictionary<string, List<SeedSamples>> byMethod;
    private readonly double[,] real;
    // bootstrap replicates (the same resamples for everything): per method, the seed-mean FD and sharpness; the reference's mean sharpness
    private readonly Dictionary<string, double[]> bootFd = new(), bootSharp = new();
    private readonly Dictionary<(string, ulong), double[]> bootFdSeed = new(), bootSharpSeed = new();
    private readonly double[]? bootReference;

    /// <param name="samples">every method's samples per seed (a method without training seeds, such as the teacher, has one)</param>
    /// <param name="real">features of the held-out real samples [M, D]</param>
    /// <param name="sharpnessReference">per-sample sharpness of the reference of <see cref="DifferenceMetric.SharpnessGap"/> (its own
    /// draw; resampled independently), or null</param>
    public SeedComparison(IReadOnlyList<SeedSamples> samples, double[,] real, double[]? sharpnessReference = null, SeedComparisonOptions? options = null)
    {
        Options = options ?? new SeedComparisonOptions();
        Options.Validate();
        if (samples.Count == 0) throw new ArgumentException("a seed comparison needs at least one method");
        int n = samples[0].Sharpness.Length, d = real.GetLength(1);
        foreach (var s in samples)
        {
            if (s.Features.GetLength(0) != n || s.Sharpness.Length != n)
                throw new ArgumentException($"{s.Method} (seed {s.Seed}): {s.Features.GetLength(0)} feature rows and {s.Sharpness.Length} sharpness values, " +
                                            $"but {samples[0].Method} has {n}; every method and seed must score the same samples");
            if (s.Features.GetLength(1) != d)
                throw new ArgumentException($"{s.Method} (seed {s.Seed}): features of dimension {s.Features.GetLength(1)}, the real ones {d}");
        }
        if (n < 2 || real.GetLength(0) < 2) throw new ArgumentException("a Fréchet distance needs at least 2 samples on each side");
        byMethod = samples.GroupBy(s => s.Method).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (m, list) in byMethod)
            if (list.Select(s => s.Seed).Distinct().Count() != list.Count) throw new ArgumentException($"{m}: a seed appears twice");
        (this.real, SharpnessReference) = (real, sharpnessReference);

        // One bootstrap for everything: indices of the generated samples (shared by all methods and seeds), of the
        // real samples, and of the reference's own samples.
        var sizes = new List<int> { n, real.GetLength(0) };
        if (sharpnessReference is not null) sizes.Add(sharpnessReference.Length);
        var fdRep = new Dictionary<(string, ulong), List<double>>();
        var shRep = new Dictionary<(string, ulong), List<double>>();
        var refRep = new List<double>();
        foreach (var s in samples) { fdRep[(s.Method, s.Seed)] = []; shRep[(s.Method, s.Seed)] = []; }
        Bootstrap.Replicates(sizes, idx =>
        {
            var realStats = FrechetDistance.Statistics(Bootstrap.Rows(real, idx[1]), "held-out real samples (resampled)");
            foreach (var s in samples)
            {
                fdRep[(s.Method, s.Seed)].Add(FrechetDistance.Compute(FrechetDistance.Statistics(Bootstrap.Rows(s.Features, idx[0]), s.Method), realStats));
                shRep[(s.Method, s.Seed)].Add(Bootstrap.Mean(s.Sharpness, idx[0]));
            }
            if (sharpnessReference is not null) refRep.Add(Bootstrap.Mean(sharpnessReference, idx[2]));
            return 0;
        }, Options.Resamples, Options.BootstrapSeed);
        foreach (var (k, v) in fdRep) bootFdSeed[k] = v.ToArray();
        foreach (var (k, v) in shRep) bootSharpSeed[k] = v.ToArray();
        bootReference = sharpnessReference is null ? null : refRep.ToArray();

        var realAll = FrechetDistance.Statistics(real, "held-out real samples");
        var methods = new List<MethodEstimate>();
        foreach (var m in samples.Select(s => s.Method).Distinct())
        {
            var list = byMethod[m];
            var fds = list.Select(s => FrechetDistance.Compute(FrechetDistance.Statistics(s.Features, m), realAll)).ToList();
            var sharp = list.Select(s => s.Sharpness.Average()).ToList();
            bootFd[m] = SeedMean(list.Select(s => bootFdSeed[(m, s.Seed)]));
            bootSharp[m] = SeedMean(list.Select(s => bootSharpSeed[(m, s.Seed)]));
            methods.Add(new MethodEstimate(m, list[0].Steps, list[0].Nfe, list.Select(s => s.Seed).ToList(),
                Estimate.OfMean(fds, Options.Confidence).Widened(EvalHalfWidth(bootFd[m])),
                Estimate.OfMean(sharp, Options.Confidence).Widened(EvalHalfWidth(bootSharp[m])), fds, sharp));
        }
        Methods = methods;
    }

    public MethodEstimate this[string method] =>
        Methods.FirstOrDefault(m => m.Method == method) ?? throw new KeyNotFoundException($"no method '{method}' in the comparison (has: {string.Join(", ", Methods.Select(m => m.Method))})");

    public bool Has(string method) => byMethod.ContainsKey(method);

    /// <summary>method - baseline on <paramref name="metric"/>. Paired by seed when both have the same seeds (replicate s
    /// of the method is compared with replicate s of the baseline); a baseline with one seed is compared with every seed
    /// of the method; otherwise the seed means are compared (Welch-free: the two seed intervals in quadrature).</summary>
    public Difference Compare(string method, string baseline, DifferenceMetric metric)
    {
        if (metric == DifferenceMetric.SharpnessGap && SharpnessReference is null)
            throw new InvalidOperationException("the sharpness gap needs a sharpness reference");
        var (a, b) = (this[method], this[baseline]);
        Func<MethodEstimate, IReadOnlyList<double>> values = metric == DifferenceMetric.FrechetDistance ? m => m.SeedFrechetDistances : m => m.SeedSharpness;
        double refMean = ReferenceSharpness;
        double Transform(double v) => metric == DifferenceMetric.SharpnessGap ? Math.Abs(v - refMean) : v;
        bool paired = a.Seeds.SequenceEqual(b.Seeds);
        Estimate seeds;
        if (paired || b.Seeds.Count == 1)
        {
            var bv = paired ? values(b).Select(Transform).ToList() : Enumerable.Repeat(Transform(values(b)[0]), a.Seeds.Count).ToList();
            seeds = Estimate.OfPairedDifference(values(a).Select(Transform).ToList(), bv, Options.Confidence);
        }
        else
        {
            var (ea, eb) = (Estimate.OfMean(values(a).Select(Transform).ToList(), Options.Confidence), Estimate.OfMean(values(b).Select(Transform).ToList(), Options.Confidence));
            seeds = new Estimate(ea.Mean - eb.Mean, double.NaN, Math.Min(ea.N, eb.N), double.NaN, double.NaN, Options.Confidence)
                .Widened(Math.Sqrt(Sq(ea.HasInterval ? ea.HalfWidth : 0) + Sq(eb.HasInterval ? eb.HalfWidth : 0)));
        }
        // the evaluation's part: the same difference on every bootstrap replicate
        var boot = metric switch
        {
            DifferenceMetric.FrechetDistance => bootFd[method].Zip(bootFd[baseline], (x, y) => x - y).ToArray(),
            DifferenceMetric.Sharpness => bootSharp[method].Zip(bootSharp[baseline], (x, y) => x - y).ToArray(),
            _ => Enumerable.Range(0, Options.Resamples).Select(r =>
                    GapMean(method, r) - GapMean(baseline, r)).ToArray(),
        };
        return new Difference(method, baseline, metric, seeds.Widened(EvalHalfWidth(boot)), paired);
    }

    // the seed-mean of |sharpness - reference| on bootstrap replicate r
    private double GapMean(string method, int r) =>
        byMethod[method].Average(s => Math.Abs(bootSharpSeed[(method, s.Seed)][r] - bootReference![r]));

    // z_{(1+c)/2} x the replicates' standard deviation: a normal interval (steadier than percentiles of ~100 replicates)
    private double EvalHalfWidth(double[] replicates)
    {
        double mean = replicates.Average();
        double sd = Math.Sqrt(replicates.Sum(v => (v - mean) * (v - mean)) / (replicates.Length - 1));
        return MathNet.Numerics.Distributions.Normal.InvCDF(0, 1, (1 + Options.Confidence) / 2) * sd;
    }

    private static double[] SeedMean(IEnumerable<double[]> perSeed)
    {
        var list = perSeed.ToList();
        return Enumerable.Range(0, list[0].Length).Select(r => list.Average(v => v[r])).ToArray();
    }

    private static double Sq(double v) => v * v;
}
