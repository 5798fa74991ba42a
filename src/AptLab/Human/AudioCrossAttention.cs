using AptLab.Torch.nn;
using AptLab.Wan;

namespace AptLab.Human;

/// <summary>
/// Frame-wise audio cross-attention, one per DiT block after the text cross-attention (docs/omnihuman.md#audio):
/// the visual tokens of latent frame f are the queries, the audio tokens of f's own video frames the keys and values,
/// so the attention is block-diagonal over latent frames (computed as F independent attentions, no mask). Projections
/// and q/k RMSNorm as Wan's attention (<see cref="WanAttentionProjections"/>); the output projection <c>o</c> is
/// zero-initialised, so a freshly added layer adds exactly 0:
/// <code>
/// x[:, :L] += active_b · o(softmax(norm_q(q x_f) norm_k(k a_f)ᵀ / √d) v a_f)     per latent frame f
/// </code>
/// Tokens after the first L (reference, motion frames) pass unchanged.
/// </summary>
public sealed class AudioCrossAttention : WanAttentionProjections
{
    public AudioCrossAttention(int dim, int numHeads, bool qkNorm = true, double eps = 1e-6, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(dim, numHeads, qkNorm, eps, dtype, device)
    {
        using var _ = torch.no_grad();
        init.zeros_(o.weight);
        init.zeros_(o.bias!);
    }

    /// <summary>
    /// x: [B, S, dim] (the first L = F·h·w tokens are the video's, row-major over (f, h, w)); audio: [B, F, K, dim] the
    /// audio tokens of each latent frame; active: [B] (1 = audio on, 0 = off) or null (all on). Returns x with the
    /// residual added to the video tokens, in x's dtype.
    /// </summary>
    public Tensor forward(Tensor x, Tensor audio, (int F, int H, int W) grid, Tensor? active, ScalarType? attnDtype = null)
    {
        using var scope = torch.NewScope();
        long b = x.size(0), f = grid.F, hw = (long)grid.H * grid.W, l = f * hw, d = x.size(2), n = audio.size(2);
        if (audio.dim() != 4 || audio.size(0) != b || audio.size(1) != f || audio.size(3) != d)
            throw new ArgumentException($"AudioCrossAttention: audio tokens must be [{b}, {f}, K, {d}], got [{string.Join(", ", audio.shape)}]");
        var video = x.narrow(1, 0, l);                                                    // [B, L, dim]
        var qx = q.Apply(video);
        var kx = k.Apply(audio.view(b, f * n, d));
        if (norm_q is not null) qx = norm_q.forward(qx);
        if (norm_k is not null) kx = norm_k.forward(kx);
        var vx = v.Apply(audio.view(b, f * n, d));
        // one attention per latent frame: [B·F, hw, H, dh] against [B·F, K, H, dh]
        var qh = qx.reshape(b * f, hw, num_heads, head_dim);
        var kh = kx.reshape(b * f, n, num_heads, head_dim);
        var vh = vx.reshape(b * f, n, num_heads, head_dim);
        var a = WanAttention.Attend(qh, kh, vh, null, attnDtype).reshape(b, l, d);       // [B, L, dim]
        var y = o.Apply(a).As(x.dtype);
        if (active is not null) y = y * active.to(y.dtype).view(b, 1, 1);
        var outVideo = video + y;
        return scope.Keep(x.size(1) == l ? outVideo : torch.cat([outVideo, x.narrow(1, l, x.size(1) - l)], 1));
    }
}
