using AptLab.Diffusion;
using AptLab.Avatar.Data;
namespace AptLab.Avatar.Training;

/// <summary>The random part of one training micro-batch: timesteps, noise and the number of clean prefix latent frames.</summary>
/// <param name="Timesteps">one per sample (<see cref="AvatarTimesteps"/>)</param>
/// <param name="Noise">[B, 16, F, h, w] standard normal</param>
/// <param name="PrefixFrames">per sample, 1 ≤ p &lt; F latent frames given clean (mask 0); p = 1 is the reference frame</param>
/// <param name="DropAudio">per sample: train on all-zero audio (the unconditional audio of audio CFG, docs/omniavatar.md#audio-injection), or null</param>
public sealed record AvatarDraw(AvatarTimestep[] Timesteps, Tensor Noise, int[] PrefixFrames, bool[]? DropAudio = null);

/// <summary>The loss of one micro-batch and what it was made of.</summary>
/// <param name="Loss">scalar float32: mean over samples of w_b · mse_b (differentiable)</param>
/// <param name="Mse">per-sample unweighted MSE over the generated frames</param>
public sealed record AvatarLossOutput(Tensor Loss, double[] Mse, AvatarTimestep[] Timesteps);

/// <summary>
/// OmniAvatar's flow-matching objective (docs/omniavatar.md#training with the conditioning of docs/omniavatar.md#conditioning and docs/omniavatar.md#training). Per sample b:
/// <code>
/// x_t   = (1 − σ_b) x0 + σ_b ε,  then the first p_b latent frames replaced by the clean x0 (the known prefix)
/// y     = cat(ref latent repeated over all F frames, mask)      mask = 0 on frames &lt; p_b, 1 elsewhere   [B, 17, F, h, w]
/// audio = the clip's features with row 0 (the reference frame) zeroed, as inference feeds it (docs/omniavatar.md#long-video); all zeros for the
///         samples the draw drops (condition dropout for audio CFG, whose unconditional audio is zeros)
/// v     = DiT(x_t, τ_b, context, y, audio)
/// mse_b = mean over the generated frames (f ≥ p_b) of (v − (ε − x0))²   (float32)
/// loss  = mean_b w_b · mse_b
/// </code>
/// With B = 1, p = 1 and <see cref="LossOnPrefixFrames"/> this is exactly DiffSynth's
/// <c>mse_loss(pred, noise − x0) · w</c>. Excluding the prefix frames (the default) drops the terms whose input is
/// the clean target itself; the released code does not say which choice OmniAvatar made (docs/omniavatar.md#training).
/// </summary>
public sealed class AvatarFlowMatchingLoss
{
    /// <summary>Zero audio row 0 (the reference frame's), as inference's chunk 0 does.</summary>
    public bool ZeroReferenceAudio { get; init; } = true;
    /// <summary>Average the MSE over all frames, the clean prefix included (DiffSynth's plain mean).</summary>
    public bool LossOnPrefixFrames { get; init; }

    /// <summary>y [B, 17, F, h, w]: the reference latent [B, 16, 1, h, w] at every frame, then the mask channel.</summary>
    public static Tensor BuildY(Tensor refLatents, long frames, IReadOnlyList<int> prefixFrames)
    {
        using var scope = torch.NewScope();
        long b = refLatents.size(0), c = refLatents.size(1), h = refLatents.size(3), w = refLatents.size(4);
        var mask = GeneratedFrames(prefixFrames, frames, refLatents.dtype, refLatents.device)   // [B, 1, F, 1, 1]
            .expand(b, 1, frames, h, w);
        return scope.Keep(torch.cat([refLatents.expand(b, c, frames, h, w), mask], 1));
    }

    /// <summary>[B, 1, F, 1, 1]: 0 on each sample's first p_b frames (known), 1 on the frames to generate.</summary>
    public static Tensor GeneratedFrames(IReadOnlyList<int> prefixFrames, long frames, ScalarType dtype, Device device)
    {
        var m = new float[prefixFrames.Count * frames];
        for (int i = 0; i < prefixFrames.Count; i++)
        {
            int p = prefixFrames[i];
            if (p < 1 || p >= frames) throw new ArgumentException($"prefix of {p} latent frames: needs 1 <= p < F = {frames}");
            for (long f = p; f < frames; f++) m[i * frames + f] = 1f;
        }
        using var scope = torch.NewScope();
        return scope.Keep(torch.tensor(m, prefixFrames.Count, 1, frames, 1, 1).to(device).to(dtype));
    }

    /// <summary>x_t [B, 16, F, h, w]: (1 − σ_b) x0 + σ_b ε on the generated frames, x0 on the prefix.</summary>
    public static Tensor NoisyInput(Tensor x0, Tensor noise, IReadOnlyList<AvatarTimestep> timesteps, Tensor generated)
    {
        using var scope = torch.NewScope();
        var sigma = Sigmas(timesteps, x0);                                            // [B] in x0's dtype
        var xt = FlowMatch.AddNoise(x0, noise, sigma);
        return scope.Keep(xt * generated + x0 * (1.0 - generated));
    }

    private static Tensor Sigmas(IReadOnlyList<AvatarTimestep> ts, Tensor like) =>
        torch.tensor(ts.Select(t => (double)t.Sigma).ToArray(), ts.Count).to(like.device).to(like.dtype);

    /// <summary>The batch's loss for the given draw (the model's forward runs with autograd when enabled).</summary>
    public AvatarLossOutput Compute(OmniAvatarModel model, AvatarBatch batch, AvatarDraw draw)
    {
        batch.Validate();
        long b = batch.Size, frames = batch.Latents.size(2);
        if (draw.Timesteps.Length != b || draw.PrefixFrames.Length != b || !draw.Noise.shape.SequenceEqual(batch.Latents.shape))
            throw new ArgumentException($"AvatarFlowMatchingLoss: the draw is for {draw.Timesteps.Length} samples of [{string.Join(", ", draw.Noise.shape)}], the batch has [{string.Join(", ", batch.Latents.shape)}]");
        using var scope = torch.NewScope();
        var dtype = model.Dtype;                                                        // the compute dtype (the patch embedding may be a float32 master copy)
        var device = model.patch_embedding.weight.device;
        var x0 = batch.Latents.to(device).to(dtype);                                   // [B, 16, F, h, w]
        var noise = draw.Noise.to(device).to(dtype);
        var generated = GeneratedFrames(draw.PrefixFrames, frames, dtype, device);      // [B, 1, F, 1, 1]
        var xt = NoisyInput(x0, noise, draw.Timesteps, generated);
        var y = BuildY(batch.RefLatents.to(device).to(dtype), frames, draw.PrefixFrames);   // [B, 17, F, h, w]
        var audio = batch.Audio.to(device);
        if (ZeroReferenceAudio) audio = torch.cat([torch.zeros_like(audio.narrow(1, 0, 1)), audio.narrow(1, 1, audio.size(1) - 1)], 1);
        if (draw.DropAudio is { } drop)
        {
            if (drop.Length != b) throw new ArgumentException($"AvatarFlowMatchingLoss: DropAudio has {drop.Length} entries for {b} samples");
            audio = audio * torch.tensor(drop.Select(d => d ? 0f : 1f).ToArray(), b, 1, 1).to(device).to(audio.dtype);
        }
        var tau = torch.tensor(draw.Timesteps.Select(t => t.Timestep).ToArray(), b).to(device).to(ScalarType.Float32);   // [B]
        var pred = model.forward(xt, tau, batch.Context.to(device), y, audio);          // [B, 16, F, h, w]
        var target = FlowMatch.Velocity(x0, noise).to(ScalarType.Float32);            // velocity ε − x0
        var sq = (pred.to(ScalarType.Float32) - target).square();                       // [B, 16, F, h, w]
        var weightMask = LossOnPrefixFrames ? torch.ones_like(generated).to(ScalarType.Float32) : generated.to(ScalarType.Float32);
        long perFrame = x0.size(1) * x0.size(3) * x0.size(4);
        var count = weightMask.sum([1, 2, 3, 4]) * perFrame;                           // [B]
        var mse = (sq * weightMask).sum([1, 2, 3, 4]) / count;                          // [B]
        var w = torch.tensor(draw.Timesteps.Select(t => (double)t.Weight).ToArray(), b).to(device).to(ScalarType.Float32);
        var loss = (mse * w).mean();
        var mseValues = mse.detach().to(ScalarType.Float64).data<double>();
        return new AvatarLossOutput(scope.Keep(loss), mseValues, draw.Timesteps);
    }
}
