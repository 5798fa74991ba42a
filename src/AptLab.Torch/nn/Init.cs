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
}
