namespace AptLab.Avatar.Audio;

/// <summary>
/// Hyper-parameters of Hugging Face's <c>Wav2Vec2Model</c>, under the names of its <c>config.json</c>
/// (<see cref="FromHfConfigFile"/> reads one). Only the layout OmniAvatar uses is implemented: a group-norm first
/// conv layer (<c>feat_extract_norm = "group"</c>), erf-GELU activations and post-LN encoder layers
/// (<c>do_stable_layer_norm = false</c>), as in facebook/wav2vec2-base-960h; <see cref="Validate"/> rejects the rest.
/// </summary>
/// <param name="conv_dim">output channels of each feature-extractor conv layer ([512] × 7)</param>
/// <param name="conv_kernel">kernel of each conv layer ([10, 3, 3, 3, 3, 2, 2])</param>
/// <param name="conv_stride">stride of each conv layer ([5, 2, 2, 2, 2, 2, 2]; total 320 samples per frame)</param>
/// <param name="conv_bias">whether the conv layers have a bias (false)</param>
/// <param name="feat_extract_norm">"group": GroupNorm(C, C) after the first conv only</param>
/// <param name="feat_extract_activation">"gelu" (exact, erf)</param>
/// <param name="hidden_size">transformer width (768)</param>
/// <param name="num_hidden_layers">encoder layers (12); the model returns num_hidden_layers + 1 hidden states</param>
/// <param name="num_attention_heads">attention heads (12)</param>
/// <param name="intermediate_size">feed-forward width (3072)</param>
/// <param name="hidden_act">"gelu" (exact, erf)</param>
/// <param name="layer_norm_eps">eps of every LayerNorm and of the GroupNorm (1e-5)</param>
/// <param name="num_conv_pos_embeddings">kernel of the positional convolution (128)</param>
/// <param name="num_conv_pos_embedding_groups">groups of the positional convolution (16)</param>
/// <param name="do_stable_layer_norm">false: post-LN layers (base); true (pre-LN, large-lv60) is not implemented</param>
/// <param name="mask_time_prob">SpecAugment probability; &gt; 0 means the model has a <c>masked_spec_embed</c>
/// parameter [hidden_size] (as HF creates it; unused at inference)</param>
public sealed partial record Wav2Vec2Config(
    int[] conv_dim,
    int[] conv_kernel,
    int[] conv_stride,
    bool conv_bias,
    string feat_extract_norm,
    string feat_extract_activation,
    int hidden_size,
    int num_hidden_layers,
    int num_attention_heads,
    int intermediate_size,
    string hidden_act,
    double layer_norm_eps,
    int num_conv_pos_embeddings,
    int num_conv_pos_embedding_groups,
    bool do_stable_layer_norm,
    double mask_time_prob)
{
    /// <summary>facebook/wav2vec2-base-960h (OmniAvatar's audio encoder): 94 371 712 parameters (masked_spec_embed included, CTC head excluded).</summary>
    public static Wav2Vec2Config Base960h => new(
        conv_dim: [512, 512, 512, 512, 512, 512, 512], conv_kernel: [10, 3, 3, 3, 3, 2, 2], conv_stride: [5, 2, 2, 2, 2, 2, 2],
        conv_bias: false, feat_extract_norm: "group", feat_extract_activation: "gelu",
        hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, hidden_act: "gelu",
        layer_norm_eps: 1e-5, num_conv_pos_embeddings: 128, num_conv_pos_embedding_groups: 16,
        do_stable_layer_norm: false, mask_time_prob: 0.05);

    /// <summary>The <c>wav2vec2</c> reference case: base-960h's conv layout with 32 channels, width 48, 2 layers,
    /// 4 heads, FFN 96, positional conv kernel 16 in 4 groups, no <c>masked_spec_embed</c>; 65 712 parameters.</summary>
    public static Wav2Vec2Config Tiny => Base960h with
    {
        conv_dim = [32, 32, 32, 32, 32, 32, 32],
        hidden_size = 48, num_hidden_layers = 2, num_attention_heads = 4, intermediate_size = 96,
        num_conv_pos_embeddings = 16, num_conv_pos_embedding_groups = 4, mask_time_prob = 0.0,
    };

    /// <summary>Number of conv layers in the feature extractor.</summary>
    public int num_feat_extract_layers => conv_dim.Length;

    /// <summary>Samples per conv frame (product of the strides: 320 for base).</summary>
    public int TotalStride => conv_stride.Aggregate(1, (a, b) => a * b);

    /// <summary>Conv frames produced from <paramref name="samples"/> samples: L ← ⌊(L − k)/s⌋ + 1 per layer
    /// (0 if the input is shorter than the receptive field).</summary>
    public long ConvFrames(long samples)
    {
        long l = samples;
        for (int i = 0; i < conv_kernel.Length; i++)
        {
            if (l < conv_kernel[i]) return 0;
            l = (l - conv_kernel[i]) / conv_stride[i] + 1;
        }
        return l;
    }

    /// <summary>Number of parameters of <see cref="Wav2Vec2Model"/> with this config, from the shapes alone (nothing is
    /// allocated): 94 371 712 for base-960h, i.e. HF's 94 396 320 for <c>Wav2Vec2ForCTC</c> minus its 32-token lm_head.</summary>
    public long ParameterCount()
    {
        long h = hidden_size, c = conv_dim[^1], n = 0;
        for (int i = 0; i < conv_dim.Length; i++)
            n += (long)conv_dim[i] * (i == 0 ? 1 : conv_dim[i - 1]) * conv_kernel[i] + (conv_bias ? conv_dim[i] : 0);
        n += 2L * conv_dim[0];                                                   // GroupNorm of layer 0
        n += 2 * c + c * h + h;                                                  // feature projection
        n += h * (h / num_conv_pos_embedding_groups) * num_conv_pos_embeddings + num_conv_pos_embeddings + h;  // v, g, bias
        n += 2 * h;                                                              // encoder.layer_norm
        n += num_hidden_layers * (4 * (h * h + h) + 2 * h + (2 * h * intermediate_size + intermediate_size + h) + 2 * h);
        return n + (mask_time_prob > 0 ? h : 0);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid key.</summary>
    public Wav2Vec2Config Validate()
    {
        static ArgumentException Bad(string key, string why) => new($"Wav2Vec2Config.{key}: {why}");
        if (conv_dim is null || conv_dim.Length == 0) throw Bad(nameof(conv_dim), "needs at least one conv layer");
        if (conv_kernel is null || conv_kernel.Length != conv_dim.Length)
            throw Bad(nameof(conv_kernel), $"needs {conv_dim.Length} entries (one per conv_dim), got {conv_kernel?.Length ?? 0}");
        if (conv_stride is null || conv_stride.Length != conv_dim.Length)
            throw Bad(nameof(conv_stride), $"needs {conv_dim.Length} entries (one per conv_dim), got {conv_stride?.Length ?? 0}");
        for (int i = 0; i < conv_dim.Length; i++)
        {
            if (conv_dim[i] <= 0) throw Bad(nameof(conv_dim), $"entry {i} must be positive, got {conv_dim[i]}");
            if (conv_kernel[i] <= 0) throw Bad(nameof(conv_kernel), $"entry {i} must be positive, got {conv_kernel[i]}");
            if (conv_stride[i] <= 0) throw Bad(nameof(conv_stride), $"entry {i} must be positive, got {conv_stride[i]}");
        }
        if (feat_extract_norm != "group")
            throw Bad(nameof(feat_extract_norm), $"only \"group\" (wav2vec2-base) is implemented, got \"{feat_extract_norm}\"");
        if (feat_extract_activation != "gelu")
            throw Bad(nameof(feat_extract_activation), $"only \"gelu\" is implemented, got \"{feat_extract_activation}\"");
        if (hidden_act != "gelu") throw Bad(nameof(hidden_act), $"only \"gelu\" is implemented, got \"{hidden_act}\"");
        if (do_stable_layer_norm)
            throw Bad(nameof(do_stable_layer_norm), "true (pre-LN layers, wav2vec2-large-lv60) is not implemented; wav2vec2-base uses false");
        if (hidden_size <= 0) throw Bad(nameof(hidden_size), $"must be positive, got {hidden_size}");
        if (num_hidden_layers <= 0) throw Bad(nameof(num_hidden_layers), $"must be positive, got {num_hidden_layers}");
        if (num_attention_heads <= 0 || hidden_size % num_attention_heads != 0)
            throw Bad(nameof(num_attention_heads), $"must be positive and divide hidden_size {hidden_size}, got {num_attention_heads}");
        if (intermediate_size <= 0) throw Bad(nameof(intermediate_size), $"must be positive, got {intermediate_size}");
        if (!(layer_norm_eps > 0)) throw Bad(nameof(layer_norm_eps), $"must be positive, got {layer_norm_eps}");
        if (num_conv_pos_embeddings <= 0) throw Bad(nameof(num_conv_pos_embeddings), $"must be positive, got {num_conv_pos_embeddings}");
        if (num_conv_pos_embedding_groups <= 0 || hidden_size % num_conv_pos_embedding_groups != 0)
            throw Bad(nameof(num_conv_pos_embedding_groups),
                $"must be positive and divide hidden_size {hidden_size}, got {num_conv_pos_embedding_groups}");
        if (!(mask_time_prob is >= 0 and <= 1)) throw Bad(nameof(mask_time_prob), $"must be in [0, 1], got {mask_time_prob}");
        return this;
    }

    public override string ToString() =>
        $"Wav2Vec2Config(conv_dim=[{string.Join(",", conv_dim)}], conv_kernel=[{string.Join(",", conv_kernel)}], " +
        $"conv_stride=[{string.Join(",", conv_stride)}], conv_bias={conv_bias}, feat_extract_norm={feat_extract_norm}, " +
        $"hidden_size={hidden_size}, num_hidden_layers={num_hidden_layers}, num_attention_heads={num_attention_heads}, " +
        $"intermediate_size={intermediate_size}, layer_norm_eps={layer_norm_eps}, num_conv_pos_embeddings={num_conv_pos_embeddings}, " +
        $"num_conv_pos_embedding_groups={num_conv_pos_embedding_groups}, do_stable_layer_norm={do_stable_layer_norm}, mask_time_prob={mask_time_prob})";
}
