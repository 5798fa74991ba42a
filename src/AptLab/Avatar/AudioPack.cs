using AptLab.Wan;
using AptLab.Torch.nn;

namespace AptLab.Avatar;

/// <summary>
/// OmniAvatar's <c>AudioPack</c> (docs/omniavatar.md#audio-injection) with patch (t, 1, 1): per latent frame, the t = 4 audio rows
/// of its video frames are concatenated (time-major, features fastest) and mapped by
/// <c>proj: Linear(t·C → hidden)</c> then <c>norm_out: LayerNorm(hidden, eps 1e-5)</c>.
/// The first row is repeated 3 more times in front, so L = 4k + 1 video frames give k + 1 latent frames:
/// latent frame 0 ← [a0, a0, a0, a0], frame n ≥ 1 ← rows 4n−3 .. 4n.
/// The output is in the module's own dtype (float32 when trained as a master copy in a bf16 model); the caller
/// (<see cref="OmniAvatarModel.AudioConditioning"/>) casts the projections back to the model's dtype.
/// </summary>
public sealed class AudioPack : Module
{
    public readonly Linear proj;          // [hidden, t·C]
    public readonly LayerNorm norm_out;   // [hidden]
    public readonly int patchT, inDim;

    public AudioPack(int inDim, int hidden, int patchT = 4, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        (this.inDim, this.patchT) = (inDim, patchT);
        proj = RegisterModule("proj", new Linear((long)inDim * patchT, hidden, dtype: dtype, device: device));
        norm_out = RegisterModule("norm_out", new LayerNorm([hidden], 1e-5, dtype: dtype, device: device));
    }

    /// <summary>audio: [B, L, C] with L ≡ 1 (mod t) → [B, T, hidden], T = (L + t − 1)/t.</summary>
    public Tensor forward(Tensor audio)
    {
        if (audio.dim() != 3 || audio.size(2) != inDim)
            throw new ArgumentException($"AudioPack: audio must be [B, L, {inDim}], got [{string.Join(", ", audio.shape)}]");
        long b = audio.size(0), l = audio.size(1);
        if (l < 1 || (l + patchT - 1) % patchT != 0)
            throw new ArgumentException($"AudioPack: audio has {l} frames; it needs {patchT}k + 1 (one reference frame + whole latent frames)");
        using var scope = torch.NewScope();
        var a = audio.As(proj.weight.dtype);
        var first = a.narrow(1, 0, 1).expand(b, patchT - 1, inDim);                           // [B, t−1, C]
        var padded = torch.cat([first, a], 1);                                                   // [B, L+t−1, C]
        var packed = padded.reshape(b, (l + patchT - 1) / patchT, (long)patchT * inDim);        // [B, T, t·C]
        var z = proj.forward(packed);                                                            // [B, T, hidden]
        return scope.Keep(norm_out.forward(z.As(norm_out.weight?.dtype ?? z.dtype)));           // [B, T, hidden]
    }
}
