namespace AptLab.Evaluation;

/// <summary>One named group of feature dimensions: columns [Offset, Offset + Length) of the feature matrix.</summary>
public sealed record FeatureBlock(string Name, int Offset, int Length, double Weight, string Description);

/// <summary>
/// A fixed, deterministic, training-free feature map for small RGB images in [-1, 1]:
/// <c>images [N, 3, H, W] -> features [N, 125]</c> (float64), the embedding the project's Fréchet distance is
/// computed in (the role Inception-v3 plays for FID, which needs weights and 299 px inputs we do not have).
/// Every dimension is a hand-designed statistic chosen so that the failure modes of few-step generators move
/// it: blur (gradients, Laplacian-like band-pass, Gabor energy), wrong colours (joint colour histogram, colour
/// layout, opponent-colour edges), wrong shapes (edge-orientation histograms, band-pass layout) and mode
/// collapse (every block: identical images have zero feature covariance). Blocks, in column order:
/// <list type="number">
/// <item>colour_layout (48): mean R, G, B on a 4x4 grid of cells (adaptive average pooling).</item>
/// <item>colour_spread (3): per-channel standard deviation over the image.</item>
/// <item>palette_histogram (27): soft joint colour histogram over the palette {-1, 0, 1}^3 (softmax of
///   -||x - p||^2 / (2 * 0.35^2) per pixel, averaged); joint, so a channel swap cannot hide in the marginals.</item>
/// <item>gradient_stats (9): Sobel gradient magnitude of the luma, mean, RMS and 90th percentile, at pyramid
///   levels 0, 1, 2 (2x2 average pooling between levels).</item>
/// <item>edge_orientation (16): histogram of unsigned gradient orientation, 8 soft bins (weight
///   max(0, cos 2(theta - k pi/8))^4), each pixel voting with m * m^2 / (m^2 + 0.05^2) (edges with their
///   magnitude, faint noise gradients hardly at all), normalised to sum 1, at levels 0 and 1.</item>
/// <item>dog_layout (12): mean |DoG| (sigma 1 vs 1.6) of the luma on a 2x2 grid, at levels 0, 1, 2.</item>
/// <item>gabor_energy (8): mean quadrature energy of Gabor filters (wavelength 4 px, envelope std 2 px,
///   orientations 0, 45, 90, 135 degrees) at levels 0 and 1 (i.e. wavelengths 4 and 8 px of the input).</item>
/// <item>opponent_edges (2): mean |DoG| (sigma 1) of the opponent channels R - G and B - (R + G) / 2.</item>
/// </list>
/// Each block is multiplied by a fixed weight (<see cref="Blocks"/>) chosen once so that, on the demo's
/// MovingShapes data, every block's summed variance is of order one; without it the 48 colour-layout dims
/// would drown the blur-sensitive blocks. Pixels are clamped to [-1, 1] first (what a saved image shows).
/// Filtering runs in float32 (libtorch's fast CPU convolutions; float64 ones are ~6x slower), the features are
/// returned as float64 for the Fréchet distance. See README.md in this folder for the measured sensitivities.
/// Features are defined for any H, W >= 16, but the pixel-scale blocks depend on resolution: compare only
/// sets of the same size.
/// </summary>
public static class ImageFeatures
{
    public const int MinSize = 16;
    const double PaletteSigma = 0.35;
    const double EdgeTau = 0.05;                 // gradient magnitude (luma units per px) below which orientations barely vote

    /// <summary>The blocks in column order, with their fixed weights.</summary>
    public static readonly IReadOnlyList<FeatureBlock> Blocks = BuildBlocks(
        ("colour_layout", 48, 0.3, "mean RGB on a 4x4 grid"),
        ("colour_spread", 3, 3.0, "per-channel std"),
        ("palette_histogram", 27, 7.0, "soft joint histogram over {-1,0,1}^3"),
        ("gradient_stats", 9, 4.0, "Sobel magnitude mean/RMS/p90 at levels 0-2"),
        ("edge_orientation", 16, 12.0, "magnitude-weighted orientation histogram, 8 bins, levels 0-1"),
        ("dog_layout", 12, 14.0, "mean |DoG(1)| on a 2x2 grid, levels 0-2"),
        ("gabor_energy", 8, 40.0, "Gabor energy, wavelength 4 at levels 0-1, 4 orientations"),
        ("opponent_edges", 2, 80.0, "mean |DoG(1)| of R-G and B-(R+G)/2"));

    /// <summary>Feature dimension D.</summary>
    public static int Dim => Blocks[^1].Offset + Blocks[^1].Length;

    /// <summary>The block called <paramref name="name"/>.</summary>
    public static FeatureBlock Block(string name) =>
        Blocks.FirstOrDefault(b => b.Name == name) ?? throw new ArgumentException($"no image feature block named '{name}'");

    /// <summary>
    /// Features of <paramref name="images"/> [N, 3, H, W] (any float dtype, any device; values in [-1, 1]):
    /// a CPU float64 tensor [N, D]. Computed in chunks of <paramref name="chunk"/> images to bound memory.
    /// </summary>
    public static Tensor Compute(Tensor images, int chunk = 64)
    {
        var s = images.shape;
        if (s.Length != 4 || s[1] != 3)
            throw new ArgumentException($"image features need images [N, 3, H, W]; got [{string.Join(", ", s)}]");
        if (s[2] < MinSize || s[3] < MinSize)
            throw new ArgumentException($"image features need H and W >= {MinSize}; got {s[2]}x{s[3]}");
        if (s[0] == 0) throw new ArgumentException("image features need at least one image");
        if (chunk < 1) throw new ArgumentException($"chunk must be >= 1, got {chunk}");
        using var scope = torch.NewScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < s[0]; start += chunk)
        {
            using var inner = torch.NewScope();
            var x = images.narrow(0, start, Math.Min(chunk, s[0] - start)).to(Device.CPU, ScalarType.Float32).clamp(-1, 1);
            parts.Add(inner.Keep(ComputeChunk(x).to(ScalarType.Float64)));
        }
        return scope.Keep(torch.cat(parts, 0));
    }

    // x: [n, 3, H, W] float32 in [-1, 1] -> [n, D] float32
    private static Tensor ComputeChunk(Tensor x)
    {
        var y0 = FilterBank.Luma(x);                                                   // [n, 1, H, W]
        var levels = new[] { y0, F.avg_pool2d(y0, 2), F.avg_pool2d(y0, 4) };           // luma pyramid
        var blocks = new[]
        {
            ColourLayout(x), ColourSpread(x), PaletteHistogram(x), GradientStats(levels),
            EdgeOrientation(levels), DogLayout(levels), GaborEnergy(levels), OpponentEdges(x),
        };
        for (int i = 0; i < blocks.Length; i++)
        {
            if (blocks[i].shape[1] != Blocks[i].Length)
                throw new InvalidOperationException($"feature block {Blocks[i].Name} has {blocks[i].shape[1]} dims, expected {Blocks[i].Length}");
            blocks[i] = blocks[i] * Blocks[i].Weight;
        }
        return torch.cat(blocks, 1);
    }

    private static Tensor ColourLayout(Tensor x) => F.adaptive_avg_pool2d(x, 4, 4).flatten(1);   // [n, 48]

    private static Tensor ColourSpread(Tensor x) => x.flatten(2).std(2, correction: 0);           // [n, 3]

    private static Tensor PaletteHistogram(Tensor x)
    {
        var palette = new double[27 * 3];
        for (int k = 0; k < 27; k++) { palette[3 * k] = k / 9 - 1; palette[3 * k + 1] = k / 3 % 3 - 1; palette[3 * k + 2] = k % 3 - 1; }
        var p = torch.tensor(palette, 27, 3).to(x);                                    // [27, 3]
        var half = (p * p).sum(1).view(1, 27, 1) * 0.5;                                // ||p||^2 / 2
        var xf = x.flatten(2);                                                         // [n, 3, HW]
        // -||x - p||^2 / (2 s^2) up to the per-pixel constant ||x||^2, which the softmax over k ignores.
        var logits = (p.matmul(xf) - half) / (PaletteSigma * PaletteSigma);            // [n, 27, HW]
        return F.softmax(logits, 1).mean(2);                                           // [n, 27]
    }

    /// <summary>Sobel derivatives of a luma map y [n, 1, h, w] (valid region): gx, gy, magnitude, each [n, 1, h-2, w-2].</summary>
    internal static (Tensor gx, Tensor gy, Tensor mag) Gradients(Tensor y)
    {
        var g = FilterBank.FilterValid(y, FilterBank.Sobel());                         // [n, 2, h-2, w-2]
        var gx = g.narrow(1, 0, 1);
        var gy = g.narrow(1, 1, 1);
        return (gx, gy, (gx * gx + gy * gy + 1e-12).sqrt());
    }

    private static Tensor GradientStats(Tensor[] levels)
    {
        var cols = new List<Tensor>();
        foreach (var y in levels)
        {
            var m = Gradients(y).mag.flatten(1);                                       // [n, P]
            var (sorted, _) = m.sort(1);
            long p90 = (long)Math.Floor(0.9 * (m.shape[1] - 1));
            cols.Add(m.mean(1));
            cols.Add(m.square().mean(1).sqrt());
            cols.Add(sorted.select(1, p90));
        }
        return torch.stack(cols, 1);                                                   // [n, 9]
    }

    private static Tensor EdgeOrientation(Tensor[] levels)
    {
        var hists = new List<Tensor>();
        foreach (var y in levels.Take(2))
        {
            var (gx, gy, m) = Gradients(y);
            var m2 = gx * gx + gy * gy + 1e-12;
            var cos2 = ((gx * gx - gy * gy) / m2).flatten(1);                         // cos 2 theta: [n, P]
            var sin2 = (2.0 * gx * gy / m2).flatten(1);                               // sin 2 theta
            // Vote weight m * m^2 / (m^2 + tau^2): edges vote with their magnitude, sub-threshold (noise) gradients barely.
            var mf = (m * m2 / (m2 + EdgeTau * EdgeTau)).flatten(1);
            var bins = new List<Tensor>();
            for (int k = 0; k < 8; k++)
            {
                double phi = Math.PI * k / 8;
                var w = (cos2 * Math.Cos(2 * phi) + sin2 * Math.Sin(2 * phi)).relu().pow(4L);
                bins.Add((mf * w).sum(1));
            }
            var h = torch.stack(bins, 1) + 1e-6;                                       // [n, 8]
            hists.Add(h / h.sum(1, keepdim: true));
        }
        return torch.cat(hists, 1);                                                    // [n, 16]
    }

    private static Tensor DogLayout(Tensor[] levels)
    {
        var dog = FilterBank.DoG(1.0);
        return torch.cat(levels.Select(y => F.adaptive_avg_pool2d(FilterBank.FilterSame(y, dog).abs(), 2, 2).flatten(1)).ToArray(), 1); // [n, 12]
    }

    private static Tensor GaborEnergy(Tensor[] levels)
    {
        var gabor = FilterBank.Gabor(4.0);                                             // [8, 1, k, k]
        var cols = new List<Tensor>();
        foreach (var y in levels.Take(2))
        {
            var r = FilterBank.FilterSame(y, gabor);                                  // [n, 8, h, w]
            var pairs = r.view(r.shape[0], 4, 2, r.shape[2], r.shape[3]);
            cols.Add(pairs.square().sum(2).sqrt().mean([2L, 3L]));                    // [n, 4]
        }
        return torch.cat(cols, 1);                                                     // [n, 8]
    }

    private static Tensor OpponentEdges(Tensor x)
    {
        var r = x.narrow(1, 0, 1); var g = x.narrow(1, 1, 1); var b = x.narrow(1, 2, 1);
        var opp = torch.cat([r - g, b - (r + g) * 0.5], 0);                            // [2n, 1, H, W]
        var e = FilterBank.FilterSame(opp, FilterBank.DoG(1.0)).abs().mean([1L, 2L, 3L]); // [2n]
        return e.view(2, -1).mT;                                                       // [n, 2]
    }

    private static FeatureBlock[] BuildBlocks(params (string Name, int Length, double Weight, string Description)[] spec)
    {
        var blocks = new FeatureBlock[spec.Length];
        int offset = 0;
        for (int i = 0; i < spec.Length; i++)
        {
            blocks[i] = new FeatureBlock(spec[i].Name, offset, spec[i].Length, spec[i].Weight, spec[i].Description);
            offset += spec[i].Length;
        }
        return blocks;
    }
}
