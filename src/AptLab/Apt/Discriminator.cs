using AptLab.Torch.nn;

namespace AptLab.Apt;

/// <summary>
/// The APT discriminator (apt.md 5.2-5.4, 11.3): a full, trainable copy of the original diffusion network reading
/// the CLEAN latent with a timestep t = shift(u, s) fed only through its time embedding, and read-out heads on the
/// hidden states after the chosen blocks -> one logit per sample. Its own velocity head is unused.
/// </summary>
public sealed class Discriminator : Module
{
    public FlowModel Backbone { get; }
    public readonly DiscriminatorReadout readout;
    public int[] Layers { get; }

    /// <param name="backbone">a copy of the ORIGINAL teacher (not the distilled generator); all of it trains</param>
    /// <param name="layers">0-indexed blocks whose outputs the heads read; default 16/26/36 of 36, proportionally</param>
    public Discriminator(FlowModel backbone, int[]? layers = null)
    {
        Backbone = backbone;
        Layers = layers ?? DiscriminatorReadout.DefaultLayers(backbone.NumLayers);
        if (Layers.Length == 0 || Layers.Any(l => l < 0 || l >= backbone.NumLayers))
            throw new ArgumentException($"discriminator head layers [{string.Join(", ", Layers)}] must lie in 0..{backbone.NumLayers - 1}");
        RegisterModule("backbone", backbone.Module);
        var w = backbone.Module.parameters().First();                                  // heads in the backbone's dtype, on its device
        readout = RegisterModule("readout", new DiscriminatorReadout(backbone.Dim, backbone.NumHeads, Layers.Length, w.dtype, w.device));
    }

    /// <param name="x">clean latent [B, C, F, H, W]</param>
    /// <param name="sigma">[B] discriminator timesteps in [0, 1]</param>
    /// <returns>logits [B]</returns>
    public Tensor forward(Tensor x, Tensor sigma, Conditioning c)
    {
        using var scope = torch.NewScope();
        var hidden = Backbone.Hidden(x, sigma, c, Layers);
        return scope.Keep(readout.forward(hidden, keyMask: null));
    }
}
