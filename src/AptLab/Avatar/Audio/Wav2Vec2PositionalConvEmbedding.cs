using AptLab.Torch.nn;

namespace AptLab.Avatar.Audio;

/// <summary>
/// A grouped Conv1d under weight normalisation over <c>dim = 2</c> (PyTorch's legacy <c>weight_norm(conv, dim=2)</c>):
/// <c>weight[:, :, k] = weight_g[k] · weight_v[:, :, k] / ‖weight_v[:, :, k]‖</c>, the norm over the output and input
/// channel axes. Parameters in the legacy checkpoint order: <c>bias</c> [C], <c>weight_g</c> [1, 1, K],
/// <c>weight_v</c> [C, C/groups, K]. (Newer transformers spell g and v <c>parametrizations.weight.original0/1</c>;
/// <see cref="Wav2Vec2Model.FromCheckpoint"/> maps that spelling onto these.)
/// </summary>
public sealed class WeightNormConv1d : Module<Tensor, Tensor>
{
    public readonly Parameter bias, weight_g, weight_v;
    public readonly long padding, groups;

    public WeightNormConv1d(int channels, int kernel, int groups, int padding)
    {
        (this.padding, this.groups) = (padding, groups);
        long fanIn = (long)channels / groups * kernel;
        bias = RegisterParameter("bias", torch.empty(channels));
        init.uniform_(bias, -1 / Math.Sqrt(fanIn), 1 / Math.Sqrt(fanIn));
        var v = torch.empty(channels, channels / groups, kernel);
        init.kaiming_uniform_(v, a: Math.Sqrt(5));
        // weight_norm starts from g = ‖v‖, so weight == v at construction. Registered g first, as the checkpoints list them.
        using (torch.no_grad())
            weight_g = RegisterParameter("weight_g", v.norm(2, [0, 1], keepdim: true));
        weight_v = RegisterParameter("weight_v", v);
    }

    /// <summary>The effective conv weight [C, C/groups, K].</summary>
    public Tensor weight() => F.weight_norm(weight_v, weight_g, dim: 2);

    public override Tensor forward(Tensor x)                  // x: [B, C, T] -> [B, C, T + 2·padding − K + 1]
    {
        using var scope = torch.NewScope();
        return scope.Keep(F.conv1d(x, weight(), bias, padding: padding, groups: groups));
    }
}

/// <summary>
/// HF <c>Wav2Vec2PositionalConvEmbedding</c>: <c>conv</c> = <see cref="WeightNormConv1d"/>(hidden, K, groups,
/// padding K/2), then HF's <c>Wav2Vec2SamePadLayer</c> drops the last output frame when K is even (T + 1 -> T),
/// then exact GELU. Key prefix <c>conv.</c>.
/// </summary>
public sealed class Wav2Vec2PositionalConvEmbedding : Module<Tensor, Tensor>
{
    public readonly WeightNormConv1d conv;
    private readonly int numPadRemove;

    public Wav2Vec2PositionalConvEmbedding(Wav2Vec2Config config)
    {
        int k = config.num_conv_pos_embeddings;
        conv = RegisterModule("conv", new WeightNormConv1d(config.hidden_size, k, config.num_conv_pos_embedding_groups, k / 2));
        numPadRemove = k % 2 == 0 ? 1 : 0;
    }

    public override Tensor forward(Tensor hidden_states)      // hidden_states: [B, T, hidden] -> [B, T, hidden]
    {
        using var scope = torch.NewScope();
        var h = conv.forward(hidden_states.transpose(1, 2));  // [B, hidden, T + numPadRemove]
        if (numPadRemove > 0) h = h.narrow(2, 0, h.size(2) - numPadRemove);
        return scope.Keep(F.gelu(h).transpose(1, 2));
    }
}
