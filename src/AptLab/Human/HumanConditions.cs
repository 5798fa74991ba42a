namespace AptLab.Human;

/// <summary>
/// The non-text conditions of one OmniHuman forward (docs/omnihuman.md#model), for a latent x [B, 16, F, h, w] of
/// L = 1 + 4(F - 1) video frames. A null tensor means the condition is absent for the whole batch; the optional
/// per-sample switches ([B], 1 = on, 0 = off; null = on for every sample) turn it off for some samples of a batch
/// (training's condition dropout, CFG's unconditional branches), with the same result as leaving it out.
/// Text is the context tensor (an all-zero context is "no text").
/// </summary>
public sealed record HumanConditions
{
    /// <summary>[B, 16, 1, h, w] normalised VAE latent of the reference image (packed as extra tokens).</summary>
    public Tensor? Reference { get; init; }
    /// <summary>[B, 16, M, h, w] normalised VAE latents of the motion frames (the previous segment's last frames).</summary>
    public Tensor? Motion { get; init; }
    /// <summary>[B, L, 2n + 1, audio_in_dim] audio feature windows, one per video frame (<see cref="Audio.AudioWindows"/>).</summary>
    public Tensor? Audio { get; init; }
    /// <summary>[B, C_heat, L, H, W] pose heatmaps at pixel resolution (<see cref="Pose.PoseHeatmaps"/>).</summary>
    public Tensor? Pose { get; init; }
    /// <summary>[B, (2n + 1) C_pose, F, h, w] the pose guider's stacked features of <see cref="Pose"/> under
    /// <see cref="PoseOn"/> (<see cref="OmniHumanModel.PoseFeatures"/>), computed once by a sampler that reuses them at
    /// every step (they do not depend on the noisy latent or the timestep); used instead of the heatmaps when present.</summary>
    public Tensor? PoseFeatures { get; init; }
    public Tensor? ReferenceOn { get; init; }
    public Tensor? MotionOn { get; init; }
    public Tensor? AudioOn { get; init; }
    public Tensor? PoseOn { get; init; }

    /// <summary>No condition but text: the OmniHuman model is then exactly its Wan base (new parts zero-initialised).</summary>
    public static readonly HumanConditions None = new();

    /// <summary>The batch size the present tensors agree on, or null when there are none.</summary>
    public long? Batch => new[] { Reference, Motion, Audio, Pose }.FirstOrDefault(t => t is not null)?.size(0);

    /// <summary>Rows [start, start + count) of every tensor (a view), e.g. one sample of a batch.</summary>
    public HumanConditions Rows(long start, long count)
    {
        Tensor? R(Tensor? t) => t?.narrow(0, start, count);
        return new HumanConditions
        {
            Reference = R(Reference), Motion = R(Motion), Audio = R(Audio), Pose = R(Pose), PoseFeatures = R(PoseFeatures),
            ReferenceOn = R(ReferenceOn), MotionOn = R(MotionOn), AudioOn = R(AudioOn), PoseOn = R(PoseOn),
        };
    }

    /// <summary>Two batches stacked (for one CFG forward of several branches); both must hold the same tensors.
    /// A switch present on one side only is 1 on the other.</summary>
    public static HumanConditions Cat(HumanConditions a, HumanConditions b)
    {
        Tensor? C(Tensor? x, Tensor? y, string name) => (x, y) switch
        {
            (null, null) => null,
            ({ } u, { } v) => torch.cat([u, v.to(u.dtype)], 0),
            _ => throw new ArgumentException($"HumanConditions.Cat: {name} is present in one batch only"),
        };
        long na = a.Batch ?? 0, nb = b.Batch ?? 0;
        Tensor? S(Tensor? x, Tensor? y)
        {
            if (x is null && y is null) return null;
            var dev = (x ?? y)!.device;
            return torch.cat([x?.to(dev, ScalarType.Float32) ?? torch.ones([na], device: dev), y?.to(dev, ScalarType.Float32) ?? torch.ones([nb], device: dev)], 0);
        }
        return new HumanConditions
        {
            Reference = C(a.Reference, b.Reference, "reference"), Motion = C(a.Motion, b.Motion, "motion"),
            Audio = C(a.Audio, b.Audio, "audio"), Pose = C(a.Pose, b.Pose, "pose"), PoseFeatures = C(a.PoseFeatures, b.PoseFeatures, "pose features"),
            ReferenceOn = S(a.ReferenceOn, b.ReferenceOn), MotionOn = S(a.MotionOn, b.MotionOn),
            AudioOn = S(a.AudioOn, b.AudioOn), PoseOn = S(a.PoseOn, b.PoseOn),
        };
    }

    /// <summary>The indices of the rows whose switch <paramref name="on"/> ([B]) is not 0; every row when it is null.</summary>
    public static long[] OnRows(Tensor? on, long batch)
    {
        if (on is null) return Enumerable.Range(0, (int)batch).Select(i => (long)i).ToArray();
        var v = on.to(Device.CPU, ScalarType.Float32).contiguous().data<float>();
        return Enumerable.Range(0, v.Length).Where(i => v[i] != 0).Select(i => (long)i).ToArray();
    }

    /// <summary>values [K, ...] of the rows <paramref name="rows"/> (K indices, ascending) placed in a batch of
    /// <paramref name="batch"/> rows whose other rows are zero: <c>cat(0, values).index_select(0, map)</c>, so the
    /// gradient flows to <paramref name="values"/>. Lets a condition's encoder run on the rows that use it only.</summary>
    public static Tensor PlaceRows(Tensor values, long[] rows, long batch)
    {
        if (values.size(0) != rows.Length) throw new ArgumentException($"HumanConditions.PlaceRows: {values.size(0)} rows for {rows.Length} indices");
        if (rows.Length == batch) return values.alias();
        using var scope = torch.NewScope();
        var map = new long[batch];                                                          // 0 = the zero row
        for (int k = 0; k < rows.Length; k++) map[rows[k]] = k + 1;
        var shape = values.shape.ToArray(); shape[0] = 1;
        var padded = torch.cat([torch.zeros(shape, values.dtype, values.device), values], 0);
        return scope.Keep(padded.index_select(0, torch.tensor(map, batch).to(values.device)));
    }

    /// <summary>The same conditions with audio switched off for every sample (audio CFG's unconditional branch).</summary>
    public HumanConditions WithoutAudio() => Audio is null ? this : this with { AudioOn = torch.zeros([Audio.size(0)], device: Audio.device) };
}
