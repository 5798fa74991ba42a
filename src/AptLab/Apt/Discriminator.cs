using AptLab.Torch.nn;

namespace AptLab.Apt;

/// <summary>
/// The APT discriminator (docs/apt.md#discriminator): a full, trainable copy of the original diffusion network reading
/// the CLEAN latent with a timestep t = shift(u, s) fed only through its time embedding, and read-out heads on the
/// hidden states after the chosen blocks -> one logit per sample. Its own velocity head is unused.
/// <para>Not sealed, and <see cref="forward"/> virtual, for one reason: the trainer's tests replace the logit by a known
/// function of (x, t) so that losses, penalties and gradients have closed forms (tests/AptLab.Tests/Apt).</para>
/// </summary>
public class Discriminator : Module
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

    /// <summary>Draws the read-out heads' initial weights from <paramref name="g"/> with the default initialisation
    /// (query N(0, 0.02); Linear weights kaiming-uniform a = sqrt 5, biases U(+-1/sqrt fan_in); norms as built), so a
    /// fresh discriminator does not depend on the global RNG (a resumed run re-creates the video phase's alike).</summary>
    public void ResetReadout(Generator g)
    {
        using var _ = torch.no_grad();
        var linears = readout.named_modules().Select(m => m.module).OfType<Linear>();
        foreach (var (name, p) in readout.named_parameters())
            if (name.EndsWith("query")) init.normal_(p, 0, 0.02, g);
        foreach (var l in linears)
        {
            init.kaiming_uniform_(l.weight, a: Math.Sqrt(5), g: g);
            if (l.bias is { } b) init.uniform_(b, -1 / Math.Sqrt(l.in_features), 1 / Math.Sqrt(l.in_features), g);
        }
    }

    /// <param name="x">clean latent [B, C, F, H, W]</param>
    /// <param name="sigma">[B] discriminator timesteps in [0, 1]</param>
    /// <returns>logits [B]</returns>
    public virtual Tensor forward(Tensor x, Tensor sigma, Conditioning c)
    {
        using var scope = torch.NewScope();
        var hidden = Backbone.Hidden(x, sigma, c, Layers);
        return scope.Keep(readout.forward(hidden, keyMask: null));
    }
}
