using AptLab.Wan;

namespace AptLab.Human;

/// <summary>
/// OmniHuman's use of <see cref="WanModel"/>'s extension points (docs/omnihuman.md#model) for one forward:
/// <list type="bullet">
/// <item><see cref="ExtraTokens"/>: the reference latent's h·w tokens at RoPE positions (0, i, j), temporal index 0 =
/// the identity rotation, then the M motion latent frames' tokens at (-M + m, i, j), before the generated frames
/// (which keep Wan's positions 0 .. F - 1). Both go through the same patch embedding as the video (their pose channels
/// zero). A sample whose reference (motion) is off has those tokens masked as keys.</item>
/// <item><see cref="AfterCrossAttention"/>: block i's <see cref="AudioCrossAttention"/> on the video tokens.</item>
/// </list>
/// The audio tokens are computed once per forward; under gradient checkpointing each block recomputes them from the
/// windows inside its checkpoint instead (a tensor the checkpointed block captured would be backpropagated through once
/// per block), so audio_proj receives its gradients through every block's recomputation.
/// </summary>
public sealed class OmniHumanTokens : WanHook
{
    private readonly OmniHumanModel model;
    private readonly HumanConditions c;
    private readonly Tensor x;
    private readonly (int F, int H, int W) grid;
    private readonly Tensor? audioTokens;

    /// <param name="audioTokens">the audio tokens [B, F, K, dim] computed once (<see cref="OmniHumanModel.AudioTokens"/>),
    /// or null to compute them in every block (gradient checkpointing)</param>
    public OmniHumanTokens(OmniHumanModel model, HumanConditions c, Tensor x, (int F, int H, int W) grid, Tensor? audioTokens)
    {
        (this.model, this.c, this.x, this.grid, this.audioTokens) = (model, c, x, grid, audioTokens);
        long b = x.size(0), h = x.size(3), w = x.size(4);
        void Check(Tensor? t, string name, long frames)
        {
            if (t is not null && (t.dim() != 5 || t.size(0) != b || t.size(1) != model.config.LatentChannels || t.size(2) != frames || t.size(3) != h || t.size(4) != w))
                throw new ArgumentException($"OmniHumanModel: {name} latents must be [{b}, {model.config.LatentChannels}, {frames}, {h}, {w}], got [{string.Join(", ", t.shape)}]");
        }
        Check(c.Reference, "reference", 1);
        if (c.Motion is not null) Check(c.Motion, "motion", c.Motion.size(2));
        foreach (var (s, name) in new[] { (c.ReferenceOn, "reference_on"), (c.MotionOn, "motion_on"), (c.AudioOn, "audio_on"), (c.PoseOn, "pose_on") })
            if (s is not null && (s.dim() != 1 || s.size(0) != b))
                throw new ArgumentException($"OmniHumanModel: {name} must be [{b}], got [{string.Join(", ", s.shape)}]");
    }

    /// <summary>RoPE positions (f, h, w) of the extra tokens: h·w reference tokens at f = 0, then the motion frames'.</summary>
    public static (long[] F, long[] H, long[] W) Positions((int F, int H, int W) grid, bool reference, int motionFrames)
    {
        int hw = grid.H * grid.W, n = (reference ? hw : 0) + motionFrames * hw;
        var f = new long[n]; var hh = new long[n]; var ww = new long[n];
        int i = 0;
        void Frame(long pos)
        {
            for (int j = 0; j < hw; j++, i++) { f[i] = pos; hh[i] = j / grid.W; ww[i] = j % grid.W; }
        }
        if (reference) Frame(0);
        for (int m = 0; m < motionFrames; m++) Frame(m - motionFrames);
        return (f, hh, ww);
    }

    public override WanExtraTokens? ExtraTokens(long batch, (int F, int H, int W) g)
    {
        if (c.Reference is null && c.Motion is null) return null;
        using var scope = torch.NewScope();
        var parts = new List<(Tensor latents, Tensor? on)>();
        if (c.Reference is not null) parts.Add((c.Reference, c.ReferenceOn));
        if (c.Motion is not null) parts.Add((c.Motion, c.MotionOn));
        var lat = torch.cat(parts.Select(p => p.latents).ToList(), 2).As(x.dtype);        // [B, 16, 1 + M, h, w]
        var zeros = torch.zeros([batch, model.config.PoseInputChannels, lat.size(2), lat.size(3), lat.size(4)], lat.dtype, lat.device);
        var tokens = model.wan.Patchify(torch.cat([lat, zeros], 1));                        // [B, (1 + M) h w, dim]
        var (f, h, w) = Positions(g, c.Reference is not null, (int)(c.Motion?.size(2) ?? 0));
        Tensor? present = null;                                                              // [B, E] bool
        if (parts.Any(p => p.on is not null))
        {
            long hw = (long)g.H * g.W;
            present = torch.cat(parts.Select(p => (p.on ?? torch.ones([batch])).to(lat.device).gt(0.5).view(batch, 1)
                .expand(batch, p.latents.size(2) * hw)).ToList(), 1);
        }
        return new WanExtraTokens(scope.Keep(tokens), f, h, w, present is null ? null : scope.Keep(present));
    }

    public override Tensor AfterCrossAttention(int block, Tensor hidden)
    {
        if (c.Audio is null) return hidden;
        if (audioTokens is not null) return model.audio_cross_attn[block].forward(hidden, audioTokens, grid, c.AudioOn, model.AttentionDtype);
        using var scope = torch.NewScope();                                                 // checkpointed: recomputed in the block
        var tokens = model.AudioTokens(c.Audio, grid.F);
        return scope.Keep(model.audio_cross_attn[block].forward(hidden, tokens, grid, c.AudioOn, model.AttentionDtype));
    }
}
