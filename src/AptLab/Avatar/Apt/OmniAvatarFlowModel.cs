using AptLab.Diffusion;
using AptLab.Wan;
using AptLab.Torch.nn;
using AptLab.Apt;

namespace AptLab.Avatar.Apt;

/// <summary>
/// An OmniAvatar DiT (docs/omniavatar.md#overview) as a flow model: the velocity is <c>OmniAvatarModel.forward(x, 1000 sigma,
/// context, y, audio)</c> with the reference latent + mask in <see cref="Conditioning.Y"/> [B, 17, F, h, w] and the
/// wav2vec2 features in <see cref="Conditioning.Audio"/> [B, 4F - 3, audio_in_dim] (null: no audio branch at all).
/// The latent x is the 16-channel noisy video latent; the network sees cat(x, y) (33 channels) as upstream.
/// <para>Teacher CFG (used by consistency distillation): OmniAvatar's default 2-pass guidance (docs/omniavatar.md#sampling, audio_scale unset
/// = guidance_scale): the negative keeps y, takes the negative prompt AND zero audio (<see cref="Negative"/>), so
/// <c>v = v(neg text, 0 audio) + w (v(text, audio) - v(neg text, 0 audio))</c> guides text and audio jointly with one
/// scale (4.5 upstream). The 3-pass form (separate audio scale) needs a second negative, which the generic
/// <see cref="ConsistencyDistillation"/> does not take; the released checkpoints' default is the 2-pass one.</para>
/// </summary>
public sealed class OmniAvatarFlowModel(OmniAvatarModel net) : FlowModel
{
    public OmniAvatarModel Net { get; } = net;
    public override Module Module => Net;
    public override int NumLayers => Net.wanConfig.NumLayers;
    public override int Dim => Net.wanConfig.Dim;
    public override int NumHeads => Net.wanConfig.NumHeads;
    public override bool GradientCheckpointing { get => Net.GradientCheckpointing; set => Net.GradientCheckpointing = value; }

    public override DiTOutput Forward(Tensor x, Tensor sigma, Conditioning c, int[]? hiddenAfter = null) =>
        Kept(() => Net.forward_with_audio_terms(x, WanTimesteps(sigma, x.device), c.Context, YOf(c), AudioTerms(c), null, hiddenAfter));

    /// <summary>The hidden states after <paramref name="blocks"/>, stopping after the last of them (no head).</summary>
    public override IReadOnlyList<Tensor> Hidden(Tensor x, Tensor sigma, Conditioning c, int[] blocks) =>
        Kept(() => Net.hidden_states(x, WanTimesteps(sigma, x.device), c.Context, YOf(c), AudioTerms(c), blocks));

    /// <summary>The per-block audio terms [B, K, F, dim] of <see cref="Conditioning.Audio"/> (null: no audio branch).</summary>
    private Tensor? AudioTerms(Conditioning c) => c.Audio is null ? null : Net.AudioConditioning(c.Audio);

    /// <summary>
    /// A full, independent, LoRA-free copy: the base weights plus every enabled, unmerged LoRA adapter folded in
    /// (W + (alpha / r) B A, in float32 as <see cref="LoraLinear.Merge"/>), a merged adapter being in W already.
    /// Why the merged model and not LoRA: APT trains the whole generator and the whole discriminator (docs/apt.md#generator,
    /// 5.2, freezing D was worse), and OmniAvatar's LoRA (rank 128) is only how the teacher was fine-tuned; the
    /// teacher's function is W + scaling B A, so the copy starts from exactly that function (up to the rounding of
    /// the fold) with every weight trainable, and its state dict has plain OmniAvatar keys (no <c>lora_</c>).
    /// </summary>
    public override FlowModel Copy()
    {
        var p = Net.patch_embedding.weight;
        var copy = new OmniAvatarModel(Net.config, Net.Dtype, p.device)
        {
            GradientCheckpointing = Net.GradientCheckpointing,
            AttentionDtype = Net.AttentionDtype,
        };
        var state = Net.state_dict().Where(kv => !Lora.IsLoraKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        copy.load_state_dict(state, strict: true, source: "OmniAvatarFlowModel.Copy");
        var layers = copy.named_modules().ToDictionary(m => m.name, m => m.module);
        using (torch.no_grad())
            foreach (var (name, m) in Net.named_modules())
            {
                if (m is not Linear { adapter: LoraLinear a } || a.Merged || !a.Enabled) continue;
                using var scope = torch.NewScope();
                var w = ((Linear)layers[name]).weight;
                var dt = w.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
                w.copy_(w.As(dt) + a.DeltaWeight());
            }
        return new OmniAvatarFlowModel(copy);
    }

    /// <summary>
    /// The CFG negative of <paramref name="c"/> (docs/omniavatar.md#sampling, 2-pass): the negative prompt's context
    /// [1 or B, Lt, text_dim] (broadcast over the batch), the same y, zero audio (zeros through the full audio path).
    /// </summary>
    public static Conditioning Negative(Conditioning c, Tensor negativeContext)
    {
        long b = c.Context.size(0);
        if (negativeContext.dim() != 3 || (negativeContext.size(0) != 1 && negativeContext.size(0) != b))
            throw new ArgumentException($"OmniAvatar negative context must be [1 or {b}, Lt, text_dim], got [{string.Join(", ", negativeContext.shape)}]");
        var ctx = negativeContext.size(0) == b ? negativeContext : negativeContext.expand(b, negativeContext.size(1), negativeContext.size(2));
        return c with { Context = ctx, Audio = c.Audio is null ? null : torch.zeros_like(c.Audio) };
    }

    private static Tensor YOf(Conditioning c) =>
        c.Y ?? throw new ArgumentException("OmniAvatarFlowModel: Conditioning.Y (reference latent + mask [B, 17, F, h, w]) is required");
}
