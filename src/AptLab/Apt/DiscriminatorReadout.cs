using AptLab.Torch.nn;

namespace AptLab.Apt;

/// <summary>The heads after the chosen backbone layers, their tokens concatenated [B, n C] -> LayerNorm -> Linear
/// -> one logit per sample [B] (docs/apt.md#heads). The heads compute in their parameters' dtype (bf16 compute copies under
/// bf16-mixed); the final LayerNorm and projection are a float32 island, so the logits are float32 whatever the
/// precision: the approximated R1 squares the difference of two logits a small noise apart, which bf16 rounding would
/// swamp (docs/precision-and-parallelism.md).</summary>
public sealed class DiscriminatorReadout : Module
{
    public readonly ModuleList<DiscriminatorHead> heads;
    public readonly LayerNorm norm;
    public readonly Linear proj;

    public DiscriminatorReadout(int dim, int numHeads, int count, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        heads = RegisterModule("heads", new ModuleList<DiscriminatorHead>(Enumerable.Range(0, count).Select(_ => new DiscriminatorHead(dim, numHeads, dtype: dtype, device: device))));
        norm = RegisterModule("norm", new LayerNorm(count * dim, dtype: dtype, device: device));
        proj = RegisterModule("proj", new Linear(count * dim, 1, dtype: dtype, device: device));
    }

    /// <param name="hidden">one [B, L, C] per head, in head order</param>
    /// <param name="keyMask">[B, L] (true = real token) or null</param>
    public Tensor forward(IReadOnlyList<Tensor> hidden, Tensor? keyMask)
    {
        if (hidden.Count != heads.Count) throw new ArgumentException($"{heads.Count} heads but {hidden.Count} hidden states");
        using var scope = torch.NewScope();
        var tokens = hidden.Select((h, i) => heads[i].forward(h, keyMask)).ToArray();   // n x [B, C]
        var x = torch.cat(tokens, 1);                                                    // [B, n C]
        var island = x.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        Tensor logit;                                                                    // [B, 1]
        if (x.dtype == island && proj.weight.dtype == island) logit = proj.forward(norm.forward(x));
        else
        {
            var y = F.layer_norm(x.to(island), norm.normalized_shape, norm.weight!.to(island), norm.bias!.to(island), norm.eps);
            logit = F.linear(y, proj.weight.to(island), proj.bias!.to(island));
        }
        return scope.Keep(logit.squeeze(1));
    }

    /// <summary>Head layers proportional to APT's 16/26/36 of 36 (docs/apt.md#heads): the 0-indexed blocks whose outputs
    /// the heads read, for a backbone of <paramref name="numLayers"/> blocks. 30 -> 12, 21, 29; 40 -> 17, 28, 39.</summary>
    public static int[] DefaultLayers(int numLayers) =>
        new[] { 16, 26, 36 }.Select(m => (int)Math.Round(numLayers * m / 36.0, MidpointRounding.AwayFromZero) - 1)
            .Select(i => Math.Clamp(i, 0, numLayers - 1)).Distinct().ToArray();
}
