using AptLab.Diffusion;
using AptLab.Torch.nn;

namespace AptLab.Apt;

/// <summary>The conditioning of a batch: text context [B, Lt, text_dim], and for I2V the CLIP features
/// [B, 257, clip_dim] and the mask + image latent y [B, 20, F, H, W]; for OmniAvatar y is the reference latent + mask
/// [B, 17, F, H, W] and Audio the wav2vec2 features [B, 4F - 3, 10752]. <paramref name="Extras"/> holds the named,
/// batch-first tensors a model family adds beyond these (OmniHuman: reference and motion latents, audio windows, pose
/// heatmaps and their per-sample switches); they are stacked and sliced along the batch like the others.</summary>
public sealed record Conditioning(Tensor Context, Tensor? ClipFeatures = null, Tensor? Y = null, Tensor? Audio = null,
    IReadOnlyDictionary<string, Tensor>? Extras = null)
{
    /// <summary>Two conditionings stacked along the batch (for one CFG forward of negative and positive). Contexts of
    /// different lengths are zero-padded to the longer one (the DiTs pad them with zeros to text_len anyway).</summary>
    public static Conditioning Cat(Conditioning a, Conditioning b) => new(
        torch.cat(new[] { PadRows(a.Context, b.Context.size(1)), PadRows(b.Context, a.Context.size(1)) }),
        a.ClipFeatures is null ? null : torch.cat(new[] { a.ClipFeatures, b.ClipFeatures! }),
        a.Y is null ? null : torch.cat(new[] { a.Y, b.Y! }),
        a.Audio is null ? null : torch.cat(new[] { a.Audio, b.Audio! }),
        MapExtras(a.Extras, b.Extras, (x, y) => torch.cat(new[] { x, y })));

    /// <summary>The same conditioning with every tensor passed through <paramref name="f"/> (e.g. one rank's rows).</summary>
    public Conditioning Map(Func<Tensor, Tensor> f) => new(f(Context), ClipFeatures is null ? null : f(ClipFeatures), Y is null ? null : f(Y),
        Audio is null ? null : f(Audio), Extras?.ToDictionary(kv => kv.Key, kv => f(kv.Value)));

    private static Dictionary<string, Tensor>? MapExtras(IReadOnlyDictionary<string, Tensor>? a, IReadOnlyDictionary<string, Tensor>? b,
        Func<Tensor, Tensor, Tensor> f)
    {
        if (a is null && b is null) return null;
        if (a is null || b is null || !a.Keys.OrderBy(k => k).SequenceEqual(b.Keys.OrderBy(k => k)))
            throw new ArgumentException($"Conditioning.Cat: the extras differ ({string.Join(", ", a?.Keys ?? [])} vs {string.Join(", ", b?.Keys ?? [])})");
        return a.ToDictionary(kv => kv.Key, kv => f(kv.Value, b[kv.Key]));
    }

    private static Tensor PadRows(Tensor context, long rows) =>                  // [B, Lt, D] -> [B, max(Lt, rows), D]
        context.size(1) >= rows ? context : F.pad(context, [0, 0, 0, rows - context.size(1)]);
}

/// <summary>
/// A flow-matching network in AptLab's convention: x_sigma = (1 - sigma) x0 + sigma eps, sigma in [0, 1], the network
/// predicts the velocity v = eps - x0 (Wan's timestep input is 1000 sigma). The teacher, the APT generator and the
/// discriminator's backbone are all flow models.
/// </summary>
public abstract class FlowModel : IDisposable
{
    /// <summary>The network whose parameters train.</summary>
    public abstract Module Module { get; }
    public abstract int NumLayers { get; }
    public abstract int Dim { get; }
    public abstract int NumHeads { get; }
    /// <summary>Recompute each block in backward (activation checkpointing); FSDP needs it to gather a block's weights
    /// again for its backward.</summary>
    public abstract bool GradientCheckpointing { get; set; }

    /// <summary>Velocity [B, C, F, H, W] and the hidden states [B, L, dim] after the listed blocks.</summary>
    /// <param name="x">[B, C, F, H, W]</param>
    /// <param name="sigma">[B] in [0, 1]</param>
    public abstract DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null);

    public Tensor Velocity(Tensor x, Tensor sigma, Conditioning c) => Forward(x, sigma, c).Output;

    /// <summary>Only the hidden states [B, L, dim] after the listed blocks (what the discriminator reads); a network
    /// may stop after the last of them.</summary>
    public virtual IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks)
    {
        var o = Forward(x, sigma, c, blocks);
        o.Output.Dispose();
        return o.Hidden;
    }

    /// <summary>Wan's timestep input [B] (float32, 1000 sigma, <see cref="FlowMatch.Timestep(Tensor, int)"/>) on <paramref name="device"/>.</summary>
    protected static Tensor WanTimesteps(Tensor sigma, Device device) => FlowMatch.Timestep(sigma.to(device, ScalarType.Float32));

    /// <summary>Runs a network's forward in a dispose scope that frees its temporaries and keeps its outputs.</summary>
    protected static DiTOutput Kept(Func<DiTOutput> forward)
    {
        using var scope = torch.NewScope();
        var o = forward();
        scope.Keep(o.Output);
        scope.KeepAll(o.Hidden.ToArray());
        return o;
    }

    /// <summary>Runs a hidden-states-only forward in a dispose scope that keeps the hidden states.</summary>
    protected static IReadOnlyList<Tensor> Kept(Func<IReadOnlyList<Tensor>> hidden)
    {
        using var scope = torch.NewScope();
        var h = hidden();
        scope.KeepAll(h.ToArray());
        return h;
    }

    /// <summary>A new, independent network with the same weights (for the student, D and EMA copies).</summary>
    public abstract FlowModel Copy();

    public virtual void Dispose()
    {
        Module.Dispose();
        GC.SuppressFinalize(this);
    }
}
