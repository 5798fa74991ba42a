namespace AptLab.Evaluation;

/// <summary>
/// The fixed convolution kernels of the evaluation features, built as float64 conv2d weights
/// <c>[Cout, 1, k, k]</c> (single-channel input: grayscale luma or one opponent-colour channel).
/// Nothing here is learned; every kernel is a closed-form function of its documented parameters.
/// </summary>
public static class FilterBank
{
    /// <summary>Rec. 601 luma weights (R, G, B), as in <see cref="Data.Media.RgbImage.SetPixel"/>.</summary>
    public static readonly double[] LumaWeights = [0.299, 0.587, 0.114];

    /// <summary>Luma of RGB images: x [N, 3, H, W] -> [N, 1, H, W].</summary>
    public static Tensor Luma(Tensor x)
    {
        using var scope = torch.NewScope();
        var w = torch.tensor(LumaWeights, 1, 3, 1, 1).to(x);
        return scope.Keep((x * w).sum(1, keepdim: true));
    }

    /// <summary>Sobel derivative pair, each divided by 8 so a unit ramp gives 1: [2, 1, 3, 3] (d/dx, d/dy).</summary>
    public static Tensor Sobel() => torch.tensor(new double[]
    {
        -1, 0, 1, -2, 0, 2, -1, 0, 1,
        -1, -2, -1, 0, 0, 0, 1, 2, 1,
    }, 2, 1, 3, 3) / 8.0;

    /// <summary>The 5-point discrete Laplacian [[0,1,0],[1,-4,1],[0,1,0]]: [1, 1, 3, 3].</summary>
    public static Tensor Laplacian() => torch.tensor(new double[] { 0, 1, 0, 1, -4, 1, 0, 1, 0 }, 1, 1, 3, 3);

    /// <summary>The 3x3 binomial blur ([1,2,1]/4 outer itself): [1, 1, 3, 3]. It removes the Nyquist checkerboard entirely.</summary>
    public static Tensor Binomial3() => torch.tensor(new double[] { 1, 2, 1, 2, 4, 2, 1, 2, 1 }, 1, 1, 3, 3) / 16.0;

    /// <summary>Normalised 2-D Gaussian of std <paramref name="sigma"/> on a (2r+1)^2 grid, as a flat row-major array.</summary>
    public static double[] Gaussian(double sigma, int radius)
    {
        int k = 2 * radius + 1;
        var g = new double[k * k];
        double sum = 0;
        for (int y = -radius; y <= radius; y++)
            for (int x = -radius; x <= radius; x++)
                sum += g[(y + radius) * k + x + radius] = Math.Exp(-(x * x + y * y) / (2 * sigma * sigma));
        for (int i = 0; i < g.Length; i++) g[i] /= sum;
        return g;
    }

    /// <summary>Gaussian blur kernel [1, 1, k, k], radius ceil(3 sigma).</summary>
    public static Tensor GaussianKernel(double sigma)
    {
        int r = (int)Math.Ceiling(3 * sigma), k = 2 * r + 1;
        return torch.tensor(Gaussian(sigma, r), 1, 1, k, k);
    }

    /// <summary>
    /// Difference of Gaussians G(sigma) - G(1.6 sigma) (a band-pass blob/edge detector, zero DC): [1, 1, k, k]
    /// with radius ceil(3 * 1.6 sigma).
    /// </summary>
    public static Tensor DoG(double sigma)
    {
        int r = (int)Math.Ceiling(3 * 1.6 * sigma), k = 2 * r + 1;
        double[] a = Gaussian(sigma, r), b = Gaussian(1.6 * sigma, r);
        for (int i = 0; i < a.Length; i++) a[i] -= b[i];
        return torch.tensor(a, 1, 1, k, k);
    }

    /// <summary>
    /// Quadrature Gabor pairs at <paramref name="orientations"/> angles phi_j = j pi / n (wave vector direction),
    /// wavelength <paramref name="wavelength"/> px, Gaussian envelope std wavelength / 2, radius ceil(2.5 std):
    /// [2n, 1, k, k], channel 2j the even (cosine) and 2j+1 the odd (sine) filter of orientation j. The even
    /// filter has its DC removed (a multiple of the envelope subtracted) so flat regions give exactly zero.
    /// Each filter is scaled so a unit-amplitude grating at its own frequency and orientation gives an
    /// energy sqrt(even^2 + odd^2) of about 1.
    /// </summary>
    public static Tensor Gabor(double wavelength, int orientations = 4)
    {
        double sigma = wavelength / 2;
        int r = (int)Math.Ceiling(2.5 * sigma), k = 2 * r + 1;
        var w = new double[2 * orientations * k * k];
        var env = Gaussian(sigma, r);                                    // sums to 1
        for (int j = 0; j < orientations; j++)
        {
            double phi = Math.PI * j / orientations, cx = Math.Cos(phi), cy = Math.Sin(phi);
            int even = 2 * j * k * k, odd = (2 * j + 1) * k * k;
            double dc = 0;
            for (int y = -r; y <= r; y++)
                for (int x = -r; x <= r; x++)
                {
                    int i = (y + r) * k + x + r;
                    double arg = 2 * Math.PI * (x * cx + y * cy) / wavelength;
                    w[even + i] = env[i] * Math.Cos(arg);
                    w[odd + i] = env[i] * Math.Sin(arg);
                    dc += w[even + i];
                }
            for (int i = 0; i < k * k; i++) w[even + i] -= dc * env[i];      // zero DC
            // Gain: the response of each filter to its own unit grating (cos for even, sin for odd) is set to 1.
            double evenGain = 0, oddGain = 0;
            for (int y = -r; y <= r; y++)
                for (int x = -r; x <= r; x++)
                {
                    int i = (y + r) * k + x + r;
                    double arg = 2 * Math.PI * (x * cx + y * cy) / wavelength;
                    evenGain += w[even + i] * Math.Cos(arg);
                    oddGain += w[odd + i] * Math.Sin(arg);
                }
            for (int i = 0; i < k * k; i++) { w[even + i] /= evenGain; w[odd + i] /= oddGain; }
        }
        return torch.tensor(w, 2 * orientations, 1, k, k);
    }

    /// <summary>conv2d of single-channel maps x [N, 1, H, W] with "same" output size (replicate padding): [N, Cout, H, W].</summary>
    public static Tensor FilterSame(Tensor x, Tensor kernel)
    {
        using var scope = torch.NewScope();
        long r = kernel.shape[^1] / 2;
        var padded = F.pad(x, [r, r, r, r], F.PadMode.Replicate);
        return scope.Keep(F.conv2d(padded, kernel.to(x)));
    }

    /// <summary>conv2d without padding (only where the kernel fits): [N, Cout, H - k + 1, W - k + 1].</summary>
    public static Tensor FilterValid(Tensor x, Tensor kernel)
    {
        using var scope = torch.NewScope();
        return scope.Keep(F.conv2d(x, kernel.to(x)));
    }
}
