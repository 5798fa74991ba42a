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

    /// <summary>The receptive field: the shortest input giving one conv frame (400 samples for base).</summary>
    public static long MinSamples(Wav2Vec2Config c)
    {
        long l = 1;
        for (int i = c.conv_kernel.Length - 1; i >= 0; i--) l = (l - 1) * c.conv_stride[i] + c.conv_kernel[i];
        return l;
    }
}
