using AptLab.Apt;
using AptLab.Diffusion;
using AptLab.Torch.nn;

namespace AptLab.Human.Apt;

/// <summary>
/// An OmniHuman DiT as a flow model (docs/omnihuman.md#apt): the velocity is <c>OmniHumanModel.Forward(x, 1000σ,
/// context, conditions)</c>, the non-text conditions carried in <see cref="Conditioning.Extras"/> under the names of
/// <see cref="ToExtras"/> (so the APT machinery stacks and shards them with the rest).
/// <para>Teacher CFG (consistency distillation): the joint guidance of docs/omnihuman.md#guidance with a fixed scale,
/// its negative (<see cref="Negative"/>) the same conditions with no text (a zero context) and audio off; reference,
/// motion and pose stay.</para>
/// </summary>
public sealed class OmniHumanFlowModel(OmniHumanModel net) : FlowModel
{
    public OmniHumanModel Net { get; } = net;
    public override Module Module => Net;
    public override int NumLayers => Net.wanConfig.NumLayers;
    public override int Dim => Net.wanConfig.Dim;
    public override int NumHeads => Net.wanConfig.NumHeads;
    public override bool GradientCheckpointing { get => Net.GradientCheckpointing; set => Net.GradientCheckpointing = value; }

    public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null)
    {
        using var scope = torch.NewScope();
        var o = Net.Forward(x.to(Net.Dtype), WanTimesteps(sigma, x.device), c.Context, FromExtras(c.Extras), null, hiddenAfter);
        scope.Keep(o.Output);
        scope.KeepAll(o.Hidden.ToArray());
        return o;
    }

    public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks)
    {
        using var scope = torch.NewScope();
        var o = Net.Forward(x.to(Net.Dtype), WanTimesteps(sigma, x.device), c.Context, FromExtras(c.Extras), null, blocks, hiddenOnly: true);
        scope.KeepAll(o.Hidden.ToArray());
        return o.Hidden;
    }

    /// <summary>A full, independent, LoRA-free copy (any LoRA folded into the base weights).</summary>
    public override FlowModel Copy()
    {
        var copy = new OmniHumanModel(Net.config, Net.Dtype, Net.patch_embedding.weight.device)
        {
            GradientCheckpointing = Net.GradientCheckpointing,
            AttentionDtype = Net.AttentionDtype,
        };
        copy.load_state_dict(OmniHumanWeights.MergedStateDict(Net), strict: true, source: "OmniHumanFlowModel.Copy");
        return new OmniHumanFlowModel(copy);
    }

    private static readonly (string Name, Func<HumanConditions, Tensor?> Get)[] Names =
    [
        ("reference", c => c.Reference), ("motion", c => c.Motion), ("audio", c => c.Audio), ("pose", c => c.Pose),
        ("reference_on", c => c.ReferenceOn), ("motion_on", c => c.MotionOn), ("audio_on", c => c.AudioOn), ("pose_on", c => c.PoseOn),
    ];

    /// <summary>The conditions as named extras (absent tensors left out).</summary>
    public static Dictionary<string, Tensor> ToExtras(HumanConditions c) =>
        Names.Where(n => n.Get(c) is not null).ToDictionary(n => n.Name, n => n.Get(c)!);

    public static HumanConditions FromExtras(IReadOnlyDictionary<string, Tensor>? e)
    {
        if (e is null) return HumanConditions.None;
        foreach (var k in e.Keys)
            if (!Names.Any(n => n.Name == k)) throw new ArgumentException($"OmniHumanFlowModel: unknown condition '{k}' (expected {string.Join(", ", Names.Select(n => n.Name))})");
        Tensor? G(string k) => e.TryGetValue(k, out var t) ? t : null;
        return new HumanConditions
        {
            Reference = G("reference"), Motion = G("motion"), Audio = G("audio"), Pose = G("pose"),
            ReferenceOn = G("reference_on"), MotionOn = G("motion_on"), AudioOn = G("audio_on"), PoseOn = G("pose_on"),
        };
    }

    /// <summary>The teacher's CFG negative of <paramref name="c"/>: zero context (no text), audio off, the rest kept.</summary>
    public static Conditioning Negative(Conditioning c)
    {
        var h = FromExtras(c.Extras);
        return c with { Context = torch.zeros_like(c.Context), Extras = ToExtras(h.WithoutAudio()) };
    }
}
