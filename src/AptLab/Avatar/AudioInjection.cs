using AptLab.Wan;

namespace AptLab.Avatar;

/// <summary>
/// OmniAvatar's audio injection as a <see cref="WanHook"/> (docs/omniavatar.md#audio-injection): before block i in
/// [first, last] (2 .. num_layers/2) every token of latent frame f gets <c>terms[:, i - first, f]</c> added, the
/// per-block audio terms of <see cref="OmniAvatarModel.AudioConditioning"/>. The terms do not depend on the timestep, so a
/// sampler builds them once per chunk.
/// </summary>
public sealed class AudioInjection : WanHook
{
    /// <summary>[B, K, T, dim]: entry [b, j, f] is what block first + j adds to every token of latent frame f.</summary>
    public Tensor Terms { get; }
    private readonly int first, last;

    public AudioInjection(Tensor terms, (int First, int Last) blocks)
    {
        if (terms.dim() != 4) throw new ArgumentException($"AudioInjection: terms must be [B, K, T, dim], got [{string.Join(", ", terms.shape)}]");
        if (blocks.Last - blocks.First + 1 != terms.size(1))
            throw new ArgumentException($"AudioInjection: {terms.size(1)} audio terms for blocks {blocks.First}..{blocks.Last}");
        (Terms, first, last) = (terms, blocks.First, blocks.Last);
    }

    public override Tensor BeforeBlock(int block, Tensor x, (int F, int H, int W) grid)
    {
        if (block < first || block > last) return x;
        using var scope = torch.NewScope();
        long b = x.size(0), d = x.size(2), hw = (long)grid.H * grid.W;
        // every token of latent frame f gets P[f]: [B, T, dim] → [B, T, 1, dim] broadcast over h·w
        var p = Terms.select(1, block - first).unsqueeze(2).As(x.dtype);
        return scope.Keep((x.view(b, grid.F, hw, d) + p).view(b, -1, d));   // [B, S, dim]
    }
}
