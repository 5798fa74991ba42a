using AptLab.Torch.nn;

namespace AptLab.Avatar.Audio;

/// <summary>
/// One conv layer of the feature extractor (HF <c>Wav2Vec2GroupNormConvLayer</c> / <c>Wav2Vec2NoLayerNormConvLayer</c>):
/// <c>Conv1d(k, s, no padding)</c>, then for the first layer <c>GroupNorm(C, C)</c> (every channel normalised over time,
/// per sample, affine), then exact GELU. Keys: <c>conv.weight</c> [C, Cin, k], and <c>layer_norm.{weight,bias}</c> [C].
/// </summary>
public sealed class Wav2Vec2ConvLayer : Module<Tensor, Tensor>
{
    public readonly Conv1d conv;
    public readonly GroupNorm? layer_norm;

    public Wav2Vec2ConvLayer(int inChannels, int outChannels, int kernel, int stride, bool bias, bool groupNorm, double eps)
    {
        conv = RegisterModule("conv", new Conv1d(inChannels, outChannels, kernel, stride: stride, bias: bias));
        if (groupNorm) layer_norm = RegisterModule("layer_norm", new GroupNorm(outChannels, outChannels, eps));
    }

    public override Tensor forward(Tensor x)                  // x: [B, Cin, L] -> [B, C, ⌊(L − k)/s⌋ + 1]
    {
        using var scope = torch.NewScope();
        var h = conv.forward(x);
        if (layer_norm is not null) h = layer_norm.forward(h);
        return scope.Keep(F.gelu(h));
    }
}

/// <summary>
/// The conv stack HF calls <c>feature_extractor</c> (<c>Wav2Vec2FeatureEncoder</c>; not to be confused with the
/// audio preprocessor, see <see cref="Wav2Vec2Preprocessor"/>): 7 conv layers, total stride 320 samples (50 Hz),
/// receptive field 400 samples. Keys <c>conv_layers.N.*</c>.
/// </summary>
public sealed class Wav2Vec2FeatureEncoder : Module<Tensor, Tensor>
{
    public readonly ModuleList<Wav2Vec2ConvLayer> conv_layers;
    private readonly Wav2Vec2Config config;

    public Wav2Vec2FeatureEncoder(Wav2Vec2Config config)
    {
        this.config = config;
        var layers = new List<Wav2Vec2ConvLayer>();
        for (int i = 0; i < config.conv_dim.Length; i++)
            layers.Add(new Wav2Vec2ConvLayer(i == 0 ? 1 : config.conv_dim[i - 1], config.conv_dim[i], config.conv_kernel[i],
                config.conv_stride[i], config.conv_bias, groupNorm: i == 0, config.layer_norm_eps));
        conv_layers = RegisterModule("conv_layers", new ModuleList<Wav2Vec2ConvLayer>(layers));
    }

    /// <summary>input_values: [B, N] waveform -> conv features [B, C, Tf] (channels first, as HF returns them).</summary>
    public override Tensor forward(Tensor input_values)
    {
        if (input_values.dim() != 2)
            throw new ArgumentException($"wav2vec2 feature extractor expects input_values [B, samples], got [{string.Join(", ", input_values.shape)}]");
        long n = input_values.size(1);
        if (config.ConvFrames(n) < 1)
            throw new ArgumentException($"wav2vec2 needs at least {MinSamples(config)} samples to produce one frame, got {n}");
        using var scope = torch.NewScope();
        var h = input_values.unsqueeze(1);                      // [B, 1, N]
        foreach (var layer in conv_layers) h = layer.forward(h);  // [B, C, Tf]
        return scope.Keep(h);
    }

    /// <summary>
    /// <see cref="forward"/> computed <paramref name="window"/> conv frames at a time, so the activations held at once
    /// are bounded by the window, not by the clip (docs/omniavatar.md#long-audio). The stack has no padding and every
    /// window starts at a multiple of the total stride, so each window's frames equal the one-shot frames; the only
    /// non-local step, layer 0's GroupNorm (each channel normalised over the whole clip), gets the whole clip's mean and
    /// variance from a first pass over layer 0 (float64, windows merged with Chan's formula).
    /// input_values: [B, N] -> conv features [B, C, Tf].
    /// </summary>
    public Tensor forward_windowed(Tensor input_values, long window)
    {
        if (input_values.dim() != 2)
            throw new ArgumentException($"wav2vec2 feature extractor expects input_values [B, samples], got [{string.Join(", ", input_values.shape)}]");
        return forward_windowed(new TensorWaveform(input_values), window);
    }

    /// <summary><see cref="forward_windowed(Tensor, long)"/> on a waveform read slice by slice (each slice cast to the
    /// weights' dtype and device), which need never exist whole (<see cref="NormalizedWaveform"/>). The result depends
    /// only on the samples, not on how they are held.</summary>
    public Tensor forward_windowed<TWave>(TWave input, long window) where TWave : IWaveformWindows, allows ref struct
    {
        if (window < 1) throw new ArgumentException($"conv window must be at least 1 frame, got {window}");
        long n = input.Length, frames = config.ConvFrames(n);
        var weight = conv_layers[0].conv.weight;
        if (frames <= window)
        {
            using var all = input.Slice(0, n);
            using var x = all.to(weight);
            return forward(x);
        }
        var first = conv_layers[0];
        long k0 = config.conv_kernel[0], s0 = config.conv_stride[0], stride = config.TotalStride, field = MinSamples(config);
        // pass 1: layer 0's per-channel mean and M2 over the whole clip
        long frames0 = (n - k0) / s0 + 1, window0 = window * (stride / s0);
        Tensor? mean = null, m2 = null;
        long count = 0, batch = 0;
        using var stats = torch.NewScope();
        for (long u0 = 0; u0 < frames0; u0 += window0)
        {
            torch.native_heap_trim();                         // the last window's freed activations back to the OS
            using var scope = torch.NewScope();
            long u1 = Math.Min(frames0, u0 + window0);
            var slice = input.Slice(u0 * s0, (u1 - 1) * s0 + k0 - u0 * s0).to(weight);
            batch = slice.size(0);
            var h = first.conv.forward(slice.unsqueeze(1)).to(ScalarType.Float64);             // [B, C, u1 − u0]
            var m = h.mean(2, keepdim: true);
            var q = (h - m).square().sum(2, keepdim: true);
            long nb = u1 - u0;
            if (mean is null) (mean, m2) = (m, q);
            else
            {
                var delta = m - mean;
                (mean, m2) = (mean + delta * ((double)nb / (count + nb)), m2! + q + delta.square() * ((double)count * nb / (count + nb)));
            }
            count += nb;
            scope.Keep(mean); scope.Keep(m2!);
        }
        // pass 2: the stack window by window, layer 0 normalised with the clip's statistics
        var dtype = weight.dtype;
        var norm = first.layer_norm;
        Tensor? shift = null, scale = null;
        if (norm is not null)
        {
            var f64 = ScalarType.Float64;
            var w = norm.weight?.to(f64).view(1, -1, 1) ?? torch.ones([1], f64);
            var b = norm.bias?.to(f64).view(1, -1, 1) ?? torch.zeros([1], f64);
            var s = (m2! / (double)count + norm.eps).rsqrt() * w;                               // [B, C, 1]
            (scale, shift) = (s.to(dtype), (b - mean! * s).to(dtype));
        }
        var result = stats.Keep(torch.empty([batch, config.conv_dim[^1], frames], dtype, weight.device));
        for (long t0 = 0; t0 < frames; t0 += window)
        {
            torch.native_heap_trim();
            using var scope = torch.NewScope();
            long t1 = Math.Min(frames, t0 + window);
            var slice = input.Slice(t0 * stride, (t1 - 1) * stride + field - t0 * stride).to(weight);
            var h = first.conv.forward(slice.unsqueeze(1));
            if (norm is not null) h = h * scale! + shift!;
            h = F.gelu(h);
            for (int i = 1; i < conv_layers.Count; i++) h = conv_layers[i].forward(h);
            result.narrow(2, t0, t1 - t0).copy_(h);                                             // [B, C, t1 − t0]
        }
        return result;
    }

    /// <summary>The receptive field: the shortest input giving one conv frame (400 samples for base).</summary>
    public static long MinSamples(Wav2Vec2Config c)
    {
        long l = 1;
        for (int i = c.conv_kernel.Length - 1; i >= 0; i--) l = (l - 1) * c.conv_stride[i] + c.conv_kernel[i];
        return l;
    }
}
