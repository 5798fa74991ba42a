using System.Diagnostics;
using AptLab.Diffusion;

namespace AptLab.Wan.Pipelines;

/// <summary>
/// The denoising loop shared by the Wan pipelines (docs/wan-dit.md#pipelines): at each timestep t_k
/// two separate DiT passes, <c>v_c = DiT(x, t_k, ctx)</c> and <c>v_u = DiT(x, t_k, ctx_null)</c> (I2V: both with
/// the same <c>clip_fea</c> and <c>y</c>), guidance <c>v = v_u + g (v_c − v_u)</c>, then
/// <c>x = sampler.step(v, k, x)</c> (<see cref="FlowSampling.Sample"/>). With g = 1 the unconditional pass is skipped
/// (v = v_c, as DiffSynth). The model receives <see cref="ISampler.ModelTimestep"/> (Wan's UniPC: the int-truncated t_k).
/// </summary>
public static class WanDenoiser
{
    /// <param name="dit">the diffusion transformer (eval mode; the loop runs without autograd)</param>
    /// <param name="noise">[C, T, h, w] initial latent x_{t_0} (float32)</param>
    /// <param name="context">[Lc, text_dim] prompt embedding (trimmed or padded)</param>
    /// <param name="contextNull">[Ln, text_dim] negative-prompt embedding</param>
    /// <param name="sampler">a sampler whose schedule is set; it is reset first</param>
    /// <param name="guide">guidance scale g</param>
    /// <param name="clipFea">I2V: [1, N_img, clip_dim] CLIP features</param>
    /// <param name="y">I2V: [C_y, T, h, w] mask + image latent</param>
    /// <returns>the final latent x_0 [C, T, h, w] (float32)</returns>
    public static Tensor Sample(WanModel dit, Tensor noise, Tensor context, Tensor contextNull, ISampler sampler, double guide,
        Tensor? clipFea = null, Tensor? y = null, Action<WanSampleProgress>? progress = null)
    {
        if (noise.dim() != 4) throw new ArgumentException($"WanDenoiser: noise must be [C, T, h, w], got [{string.Join(", ", noise.shape)}]");
        using var scope = torch.NewScope();
        using var _ = torch.no_grad();
        var clock = Stopwatch.StartNew();
        var device = dit.patch_embedding.weight.device;
        var ctx = context.to(device).unsqueeze(0);                                // [1, Lc, text_dim]
        var ctxNull = contextNull.to(device).unsqueeze(0);                        // [1, Ln, text_dim]
        var clip = clipFea?.to(device);
        var yb = y?.to(device).unsqueeze(0);                                       // [1, C_y, T, h, w]
        var x = noise.to(device, ScalarType.Float32);                              // [C, T, h, w]
        int n = sampler.Steps;
        return scope.Keep(FlowSampling.Sample(sampler, x, (i, xi) =>
        {
            var t = torch.full([1], sampler.ModelTimestep(i), ScalarType.Float64, device);
            var xb = xi.unsqueeze(0);                                              // [1, C, T, h, w]
            var vc = dit.forward(xb, t, ctx, clip, yb).squeeze(0);                 // [C, T, h, w]
            return guide == 1.0 ? vc : FlowMatch.Cfg(dit.forward(xb, t, ctxNull, clip, yb).squeeze(0), vc, guide);
        }, (done, _) => progress?.Invoke(new WanSampleProgress("denoise", done, n, sampler.ModelTimestep(done - 1), clock.Elapsed))));
    }
}
