using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>I2V image projection <c>img_emb</c> (<c>MLPProj</c>): proj = [0] LayerNorm(clip_dim, eps 1e-5)
/// [1] Linear(clip_dim → clip_dim) [2] GELU (erf) [3] Linear(clip_dim → dim) [4] LayerNorm(dim, eps 1e-5).</summary>
public sealed class WanMlpProj : Module<Tensor, Tensor>
{
    public readonly Sequential proj;

    public WanMlpProj(int in_dim, int out_dim, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        proj = RegisterModule("proj", new Sequential(
            new WanLayerNorm(in_dim, 1e-5, true, dtype, device),
            new Linear(in_dim, in_dim, dtype: dtype, device: device),
            new GELU(tanh: false),
            new Linear(in_dim, out_dim, dtype: dtype, device: device),
            new WanLayerNorm(out_dim, 1e-5, true, dtype, device)));
    }

    /// <summary>clip_fea: [B, N_img, clip_dim] → [B, N_img, dim].</summary>
    public override Tensor forward(Tensor clip_fea)
    {
        using var scope = torch.NewScope();
        var h = proj[0].forward(clip_fea);
        h = F.gelu(((Linear)proj[1]).Apply(h));
        h = ((Linear)proj[3]).Apply(h);
        return scope.Keep(proj[4].forward(h));
    }
}
