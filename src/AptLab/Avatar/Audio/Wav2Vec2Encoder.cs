using AptLab.Torch.nn;

namespace AptLab.Avatar.Audio;

/// <summary>
/// HF <c>Wav2Vec2Encoder</c> (post-LN): <c>h = layer_norm(x + pos_conv_embed(x))</c>, then the layers. There is no
/// final LayerNorm. Keys <c>pos_conv_embed.conv.*</c>, <c>layer_norm.*</c>, <c>layers.N.*</c>.
/// </summary>
public sealed class Wav2Vec2Encoder : Module
{
    public readonly Wav2Vec2PositionalConvEmbedding pos_conv_embed;
    public readonly LayerNorm layer_norm;
    public readonly ModuleList<Wav2Vec2EncoderLayer> layers;

    public Wav2Vec2Encoder(Wav2Vec2Config c)
    {
        pos_conv_embed = RegisterModule("pos_conv_embed", new Wav2Vec2PositionalConvEmbedding(c));
        layer_norm = RegisterModule("layer_norm", new LayerNorm([c.hidden_size], c.layer_norm_eps));
        layers = RegisterModule("layers", new ModuleList<Wav2Vec2EncoderLayer>(
            Enumerable.Range(0, c.num_hidden_layers).Select(_ => new Wav2Vec2EncoderLayer(c))));
    }

    /// <summary>
    /// x: [B, T, hidden] (the feature projection's output) -> HF's <c>hidden_states</c> tuple, num_layers + 1 tensors
    /// [B, T, hidden]: entry 0 is the input of layer 0 (after the positional conv and the LayerNorm), entry i the
    /// output of layer i − 1. The last entry is HF's <c>last_hidden_state</c>.
    /// </summary>
    public IReadOnlyList<Tensor> forward(Tensor x)
    {
        using var scope = torch.NewScope();
        var h = layer_norm.forward(x + pos_conv_embed.forward(x));
        var states = new List<Tensor> { h };
        foreach (var layer in layers)
        {
            h = layer.forward(h);
            states.Add(h);
        }
        foreach (var s in states) scope.Keep(s);
        return states;
    }
}
