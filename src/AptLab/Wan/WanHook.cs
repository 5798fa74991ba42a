namespace AptLab.Wan;

/// <summary>Tokens a hook appends to the sequence after the latent tokens, each with its own RoPE position.</summary>
/// <param name="Tokens">[B, E, dim] in the model's compute dtype</param>
/// <param name="F">[E] frame positions (may lie outside the latent grid, e.g. a reference frame at -1 or after the clip)</param>
/// <param name="H">[E] row positions</param>
/// <param name="W">[E] column positions</param>
/// <param name="Present">[B, E] bool, or null (all present): false masks the token out as a key of self-attention for
/// that sample (a condition switched off per sample in a batch, e.g. OmniHuman's reference dropped for some samples),
/// so no other token sees it; it still flows through the blocks as a query, and the head never reads it</param>
public sealed record WanExtraTokens(Tensor Tokens, long[] F, long[] H, long[] W, Tensor? Present = null);

/// <summary>
/// The extension points of <see cref="WanModel"/>'s batched forward (docs/wan-dit.md#extension-points). A model
/// family built on the Wan DiT (OmniAvatar, OmniHuman) or a sampler (TeaCache) passes hooks to
/// <see cref="WanModel.forward(Tensor, Tensor, Tensor, Tensor?, Tensor?, int[]?, IReadOnlyList{WanHook}?)"/> instead of
/// re-implementing the token pipeline. Each method's default changes nothing; the call order in one forward is:
/// <code>
/// tokens = patch_embedding(x)                      [B, L, dim], L = F·H·W
/// tokens = OnPatchTokens(tokens, grid)             e.g. OmniHuman's pose features added to the latent tokens
/// tokens = cat(tokens, ExtraTokens(..).Tokens)     [B, L + E, dim], RoPE rows from ExtraTokens(..).F/H/W (reference, motion
///                                                  frames); keys whose ExtraTokens(..).Present is false are masked
/// y = SkipBlocks(tokens, e0)                       non-null: the block stack's output without running it (TeaCache)
/// for block i:
///     x = BeforeBlock(i, x, grid)                  e.g. OmniAvatar's audio terms added per latent frame
///     x = x + SelfAttn(..)·gate;  x = x + CrossAttn(x, text)
///     x = AfterCrossAttention(i, x)                e.g. OmniHuman's audio cross-attention, an extra residual sub-layer
///     x = x + FFN(..)·gate
/// AfterBlocks(tokens, x)                           the stack ran (TeaCache stores its residual)
/// velocity = head(x[:, :L]) unpatchified
/// </code>
/// Hooks run in list order. A hook holds no state of the model; parameters it uses (audio projections, extra
/// attention layers) belong to the model that registers them, so state-dict keys stay the checkpoint's.
/// </summary>
public abstract class WanHook
{
    /// <summary>Tokens after the patch embedding: [B, L, dim] (row-major over the latent grid) -> [B, L, dim].</summary>
    public virtual Tensor OnPatchTokens(Tensor tokens, (int F, int H, int W) grid) => tokens;

    /// <summary>Tokens to append after the latent ones (null: none). They take part in self-attention with their
    /// RoPE positions; the head reads only the first L tokens.</summary>
    public virtual WanExtraTokens? ExtraTokens(long batch, (int F, int H, int W) grid) => null;

    /// <summary>Before the block stack: x [B, S, dim], e0 [B, 6, dim] the time projection. Return the stack's output
    /// to skip every block, or null to run them. Not asked when only hidden states are requested.</summary>
    public virtual Tensor? SkipBlocks(Tensor x, Tensor e0) => null;

    /// <summary>After the block stack ran: its input and output [B, S, dim].</summary>
    public virtual void AfterBlocks(Tensor input, Tensor output) { }

    /// <summary>Before block <paramref name="block"/>: x [B, S, dim] (latent tokens first, then any extra tokens) -> x.
    /// Runs outside gradient checkpointing.</summary>
    public virtual Tensor BeforeBlock(int block, Tensor x, (int F, int H, int W) grid) => x;

    /// <summary>Inside block <paramref name="block"/>, after the text cross-attention and before the FFN: x [B, S, dim]
    /// -> x (an extra residual sub-layer). Runs inside the block's gradient checkpoint.</summary>
    public virtual Tensor AfterCrossAttention(int block, Tensor x) => x;
}
