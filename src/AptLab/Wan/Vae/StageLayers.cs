using AptLab.Torch.nn;

namespace AptLab.Wan.Vae;

/// <summary>Dispatch of the stage layers of the encoder and decoder to their streaming forms.</summary>
internal static class StageLayers
{
    public static Tensor Apply(Module<Tensor, Tensor> layer, Tensor x, FeatureCache? cache) => layer switch
    {
        ResidualBlock r => r.forward(x, cache),
        Resample s => s.forward(x, cache),
        AttentionBlock a => a.forward(x),
        _ => throw new InvalidOperationException($"unexpected VAE layer {layer.GetType().Name}"),
    };
}
