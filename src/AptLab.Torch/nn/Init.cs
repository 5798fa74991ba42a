namespace AptLab.Torch.nn;

/// <summary>torch.nn.init: in-place initialisers, computed without recording gradients.</summary>
public static class init
{
    /// <summary>(fan_in, fan_out) of a weight [out, in, *kernel].</summary>
    public static (long fanIn, long fanOut) fans(Tensor w)
    {
        var s = w.shape;
        if (s.Length < 2) throw new ArgumentException("fan in/out need a tensor with at least 2 dims");
        long receptive = 1;
        for (int i = 2; i < s.Length; i++) receptive *= s[i];
        return (s[1] * receptive, s[0] * receptive);
    }

    /// <summary>The recommended gain for a nonlinearity ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu").</summary>
    public static double calculate_gain(string nonlinearity, double param = 0.01) => nonlinearity switch
    {
        "linear" or "conv1d" or "conv2d" or "conv3d" or "sigmoid" => 1,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2),
        "leaky_relu" => Math.Sqrt(2 / (1 + param * param)),
        "selu" => 3.0 / 4,
        _ => throw new ArgumentException($"unknown nonlinearity '{nonlinearity}'"),
    };

    public static Tensor uniform_(Tensor t, double a = 0, double b = 1, Generator? g = null)
    {
        using var _ = torch.no_grad();
        return t.uniform_(a, b, g);
    }

    public static Tensor normal_(Tensor t, double mean = 0, double std = 1, Generator? g = null)
    {
        using var _ = torch.no_grad();
        return t.normal_(mean, std, g);
    }

    public static Tensor constant_(Tensor t, double value)
    {
        using var _ = torch.no_grad();
        return t.fill_(value);
    }

    public static Tensor zeros_(Tensor t) => constant_(t, 0);
    public static Tensor ones_(Tensor t) => constant_(t, 1);

    /// <summary>U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    public static Tensor xavier_uniform_(Tensor t, double gain = 1, Generator? g = null)
    {
        var (fi, fo) = fans(t);
        double a = gain * Math.Sqrt(6.0 / (fi + fo));
        return uniform_(t, -a, a, g);
    }

    /// <summary>N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).</summary>
    public static Tensor xavier_normal_(Tensor t, double gain = 1, Generator? g = null)
    {
        var (fi, fo) = fans(t);
        return normal_(t, 0, gain * Math.Sqrt(2.0 / (fi + fo)), g);
    }

    /// <summary>U(-b, b) with b = gain * sqrt(3 / fan), gain for leaky_relu with slope a (PyTorch's default mode fan_in).</summary>
    public static Tensor kaiming_uniform_(Tensor t, double a = 0, bool fanIn = true, string nonlinearity = "leaky_relu", Generator? g = null)
    {
        var (fi, fo) = fans(t);
        long fan = fanIn ? fi : fo;
        double gain = calculate_gain(nonlinearity, a);
        double bound = fan > 0 ? gain * Math.Sqrt(3.0 / fan) : 0;
        return uniform_(t, -bound, bound, g);
    }

    public static Tensor kaiming_normal_(Tensor t, double a = 0, bool fanIn = true, string nonlinearity = "leaky_relu", Generator? g = null)
    {
        var (fi, fo) = fans(t);
        long fan = fanIn ? fi : fo;
        return normal_(t, 0, fan > 0 ? calculate_gain(nonlinearity, a) / Math.Sqrt(fan) : 0, g);
    }

    /// <summary>
    /// The "random non-trivial" initialisation of tiny random models and tests: every selected parameter of
    /// <paramref name="module"/> is drawn afresh from <paramref name="g"/>, in named_parameters() order, so that no path
    /// is zero (a freshly initialised DiT has a zero head, a training init zeroes new branches). The rules, first match:
    /// <list type="number">
    /// <item>"...modulation" (adaLN tables [1, k, dim]) with <paramref name="modulation"/>: N(0, 1/dim);</item>
    /// <item>"...gamma" (norm scales of any shape): U(0.75, 1.25);</item>
    /// <item>2 or more dims: N(0, 1/fan_in), fan_in = numel / size(0);</item>
    /// <item>1-D "...weight" (norm scales): U(0.75, 1.25);</item>
    /// <item>other 1-D (biases), with <paramref name="biases"/>: U(-0.1, 0.1); else left as they are.</item>
    /// </list>
    /// </summary>
    /// <param name="where">which parameters (by full name) to draw; null = all</param>
    public static void nontrivial_(Module module, Generator g, bool modulation = true, bool biases = true, Func<string, bool>? where = null)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (where is not null && !where(name)) continue;
            if (modulation && name.EndsWith("modulation")) p.normal_(0, 1 / Math.Sqrt(p.size(-1)), g);
            else if (name.EndsWith("gamma")) p.uniform_(0.75, 1.25, g);
            else if (p.dim() >= 2) p.normal_(0, 1 / Math.Sqrt(p.numel() / p.size(0)), g);
            else if (name.EndsWith("weight")) p.uniform_(0.75, 1.25, g);
            else if (biases) p.uniform_(-0.1, 0.1, g);
        }
    }
}
