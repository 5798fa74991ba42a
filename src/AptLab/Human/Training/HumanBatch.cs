namespace AptLab.Human.Training;

/// <summary>
/// One micro-batch of OmniHuman training samples (all of one size).
/// </summary>
/// <param name="Latents">[B, 16, F, h, w] normalised VAE latents of the segment to generate</param>
/// <param name="Context">[B, Lt, text_dim] caption embeddings; all zero for samples whose text is off</param>
/// <param name="Conditions">reference, motion latents, audio windows, pose heatmaps and their per-sample switches</param>
/// <param name="Draws">what each sample was drawn with (clip, conditions)</param>
public sealed record HumanBatch(Tensor Latents, Tensor Context, HumanConditions Conditions, ConditionDraw[] Draws)
{
    public long Size => Latents.size(0);

    /// <summary>Moves every tensor into <paramref name="scope"/> (so they outlive a builder's inner scope).</summary>
    public HumanBatch KeepIn(DisposeScope scope)
    {
        var c = Conditions;
        scope.KeepAll(Latents, Context, c.Reference, c.Motion, c.Audio, c.Pose, c.ReferenceOn, c.MotionOn, c.AudioOn, c.PoseOn);
        return this;
    }

    /// <summary>Every tensor on <paramref name="device"/> (the batch is built on the host; a no-op there).</summary>
    public HumanBatch To(Device device)
    {
        var c = Conditions;
        Tensor? M(Tensor? t) => t?.to(device);
        return this with
        {
            Latents = Latents.to(device), Context = Context.to(device),
            Conditions = c with
            {
                Reference = M(c.Reference), Motion = M(c.Motion), Audio = M(c.Audio), Pose = M(c.Pose),
                ReferenceOn = M(c.ReferenceOn), MotionOn = M(c.MotionOn), AudioOn = M(c.AudioOn), PoseOn = M(c.PoseOn),
            },
        };
    }

    /// <summary>The first <paramref name="latentFrames"/> latent frames (a view): the latents, and the audio windows and
    /// pose heatmaps of their 1 + 4(F - 1) video frames (e.g. one latent frame = an image for APT's image phase).</summary>
    public HumanBatch FirstFrames(int latentFrames, int vaeTemporal = 4)
    {
        if (latentFrames < 1 || latentFrames > Latents.size(2)) throw new ArgumentException($"HumanBatch: {latentFrames} latent frames of {Latents.size(2)}");
        int video = vaeTemporal * (latentFrames - 1) + 1;
        var c = Conditions;
        return this with
        {
            Latents = Latents.narrow(2, 0, latentFrames),
            Conditions = c with { Audio = c.Audio?.narrow(1, 0, video), Pose = c.Pose?.narrow(2, 0, video) },
        };
    }
}
