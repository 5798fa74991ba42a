using AptLab.Diffusion;

namespace AptLab.Human.Training;

/// <summary>The loss of one micro-batch: <paramref name="Loss"/> (scalar float32, differentiable) = mean over samples of
/// <paramref name="Mse"/>, the per-sample MSE over the generated latent frames.</summary>
public sealed record HumanLossOutput(Tensor Loss, double[] Mse);

/// <summary>
/// OmniHuman's objective, flow matching exactly as the Wan teacher (docs/flow-matching.md#convention; NOT a regression
/// onto x0): per sample b with noise level σ_b and noise ε_b,
/// <code>
/// x_σ   = (1 − σ_b) x0 + σ_b ε                       on the segment's latents only
/// v     = OmniHuman(x_σ, 1000 σ_b, context, conditions)   [B, 16, F, h, w]: the head reads the video tokens only
/// mse_b = mean over the segment's latents of (v − (ε − x0))²
/// loss  = mean_b mse_b
/// </code>
/// The reference and the motion frames are clean tokens of the input and never part of v, so they are not in the loss.
/// </summary>
public static class HumanFlowMatchingLoss
{
    /// <param name="sigma">[B] noise levels in [0, 1]</param>
    /// <param name="noise">[B, 16, F, h, w] standard normal</param>
    public static HumanLossOutput Compute(OmniHumanModel model, HumanBatch batch, Tensor sigma, Tensor noise)
    {
        using var scope = torch.NewScope();
        var x0 = batch.Latents.to(noise.device, ScalarType.Float32);
        if (!noise.shape.SequenceEqual(x0.shape)) throw new ArgumentException($"HumanFlowMatchingLoss: noise [{string.Join(", ", noise.shape)}] must be shaped like the latents [{string.Join(", ", x0.shape)}]");
        var xt = FlowMatch.AddNoise(x0, noise, sigma);
        var v = model.Forward(xt.to(model.Dtype), FlowMatch.Timestep(sigma.to(ScalarType.Float32)), batch.Context, batch.Conditions).Output;
        var err = (v.to(ScalarType.Float32) - FlowMatch.Velocity(x0, noise)).square();
        var mse = err.flatten(1).mean(1);                                                    // [B]
        var values = mse.detach().to(ScalarType.Float64).data<double>();
        return new HumanLossOutput(scope.Keep(mse.mean()), values);
    }
}
