using AptLab.Diffusion;
using AptLab.Wan;
using AptLab.Torch.nn;

namespace AptLab.Avatar;

/// <summary>
/// The OmniAvatar DiT (docs/omniavatar.md#overview): Wan 2.1's DiT with a 33-channel patch embedding and the audio branch.
/// It reuses the parts of a <see cref="WanModel"/> (patch/text/time embeddings, blocks, head) registered under the
/// same names, so the state-dict keys are exactly OmniAvatar's:
/// <code>
/// patch_embedding text_embedding.{0,2} time_embedding.{0,2} time_projection.1 blocks.N.* head.*
/// audio_proj.proj audio_proj.norm_out audio_cond_projs.{0..K-1}        (K = num_layers/2 − 1)
/// </code>
/// Forward: <see cref="WanModel"/>'s forward on cat(x, y) with one hook (<see cref="AudioInjection"/>): before block
/// i ∈ [2, num_layers/2] every token of latent frame f gets <c>audio_cond_projs[i−2](AudioPack(audio))[f]</c> added.
/// Unlike the original (whose concat-then-reshape mixes batch and projection indices for B &gt; 1), the projections are
/// stacked on a new dim, so each sample of a batch gets its own audio.
/// </summary>
public sealed class OmniAvatarModel : Module
{
    public readonly OmniAvatarConfig config;
    public readonly WanModel wan;                      // the shared parts (not registered itself)
    public readonly AudioPack audio_proj;
    public readonly ModuleList<Linear> audio_cond_projs;

    /// <summary>Recompute each block in backward (activation checkpointing, docs/omniavatar.md#training); the audio add stays outside.</summary>
    public bool GradientCheckpointing { get => wan.GradientCheckpointing; set => wan.GradientCheckpointing = value; }

    public WanConfig wanConfig => config.Wan;
    public Conv3d patch_embedding => wan.patch_embedding;
    public ModuleList<WanAttentionBlock> blocks => wan.blocks;
    public WanHead head => wan.head;

    /// <summary>Dtype of the attention products (see <see cref="WanModel.AttentionDtype"/>).</summary>
    public ScalarType? AttentionDtype { get => wan.AttentionDtype; set => wan.AttentionDtype = value; }

    public OmniAvatarModel(OmniAvatarConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null, Generator? generator = null)
    {
        this.config = config.Validate();
        wan = new WanModel(config.Wan, dtype, device, generator);
        foreach (var (name, child) in wan.named_children()) RegisterModule(name, child);
        audio_proj = RegisterModule("audio_proj",
            new AudioPack(config.AudioInDim, config.AudioHiddenSize, config.AudioPatchT, dtype, device));
        audio_cond_projs = RegisterModule("audio_cond_projs", new ModuleList<Linear>(
            Enumerable.Range(0, config.NumAudioProjections)
                .Select(_ => new Linear(config.AudioHiddenSize, config.Wan.Dim, dtype: dtype, device: device))));
    }

    /// <summary>The compute dtype (that of the frozen Wan base weights). The trainable tensors (LoRA, audio modules,
    /// patch embedding) may be float32 master copies in a bf16 model (<c>OmniAvatarTrainer</c>, docs/omniavatar.md#training): each of
    /// those layers casts its input to its own weight dtype and its output back to this one.</summary>
    public ScalarType Dtype => wan.Dtype;

    /// <summary>
    /// The per-block audio terms of docs/omniavatar.md#audio-injection, batch-correct: audio_emb [B, L, C] (L = 4T − 3 video
    /// frames) → [B, K, T, dim], entry [b, j, f] being what block j + 2 adds to every token of latent frame f.
    /// It does not depend on the timestep, so samplers compute it once per chunk (and once for the zero audio).
    /// </summary>
    public Tensor AudioConditioning(Tensor audio_emb)
    {
        using var scope = torch.NewScope();
        var za = audio_proj.forward(audio_emb);                                  // [B, T, hidden]
        var projected = audio_cond_projs.Select(p => p.forward(za.As(p.weight.dtype)).As(Dtype)).ToList();   // K × [B, T, dim]
        return scope.Keep(torch.stack(projected, 1));                            // [B, K, T, dim]
    }

    /// <summary>
    /// x: [B, 16, T, h, w] noisy latent; t: [B] (or one value for all); context: [B, Lt, text_dim] (zero-padded to
    /// text_len); y: [B, 17, T, h, w] = (reference latent repeated over T, mask); audio_emb: [B, 4T − 3, C] or null
    /// (no audio branch at all); hook: an optional extra <see cref="WanHook"/> (e.g. a sampler's TeaCache).
    /// Returns the velocity [B, 16, T, h, w].
    /// </summary>
    public Tensor forward(Tensor x, Tensor t, Tensor context, Tensor y, Tensor? audio_emb, WanHook? hook = null)
    {
        using var scope = torch.NewScope();
        var cond = audio_emb is null ? null : AudioConditioning(audio_emb);
        return scope.Keep(forward_with_audio_terms(x, t, context, y, cond, hook).Output);
    }

    /// <summary>The forward with precomputed audio terms <paramref name="audioCond"/> [B, K, T, dim] (see
    /// <see cref="AudioConditioning"/>), an optional extra hook, and the residual stream after the listed blocks.
    /// It is <see cref="WanModel"/>'s forward on cat(x, y) with the <see cref="AudioInjection"/> hook.
    /// With <paramref name="hiddenOnly"/> the blocks stop after the last listed one and no velocity is computed
    /// (Output is null; see <see cref="hidden_states"/>).</summary>
    public DiTOutput forward_with_audio_terms(Tensor x, Tensor t, Tensor context, Tensor y, Tensor? audioCond,
        WanHook? hook = null, int[]? returnHiddenAfter = null, bool hiddenOnly = false)
    {
        using var scope = torch.NewScope();
        var wc = config.Wan;
        if (x.dim() != 5 || x.size(1) != wc.OutDim)
            throw new ArgumentException($"OmniAvatarModel: x must be [B, {wc.OutDim}, T, h, w], got [{string.Join(", ", x.shape)}]");
        if (y.dim() != 5 || y.size(1) != wc.InDim - wc.OutDim || y.size(0) != x.size(0) || !y.shape[2..].SequenceEqual(x.shape[2..]))
            throw new ArgumentException($"OmniAvatarModel: y must be [{x.size(0)}, {wc.InDim - wc.OutDim}, {string.Join(", ", x.shape[2..])}], got [{string.Join(", ", y.shape)}]");
        var (pt, ph, pw) = wc.PatchSize;
        if (x.size(3) % ph != 0 || x.size(4) % pw != 0)
            throw new ArgumentException($"OmniAvatarModel: latent height/width [{x.size(3)}, {x.size(4)}] must be multiples of the patch size ({ph}, {pw})");
        long b = x.size(0), frames = x.size(2) / pt;
        if (audioCond is not null &&
            (audioCond.dim() != 4 || audioCond.size(0) != b || audioCond.size(1) != config.NumAudioProjections || audioCond.size(2) != frames || audioCond.size(3) != wc.Dim))
            throw new ArgumentException($"OmniAvatarModel: the audio terms must be [{b}, {config.NumAudioProjections}, {frames}, {wc.Dim}] " +
                $"(audio of {4 * frames - 3} video frames for {frames} latent frames), got [{string.Join(", ", audioCond.shape)}]");
        var hooks = new List<WanHook>();
        if (audioCond is not null) hooks.Add(new AudioInjection(audioCond, config.AudioBlocks));
        if (hook is not null) hooks.Add(hook);
        var xy = torch.cat([x, y.As(x.dtype)], 1);                              // [B, 33, T, h, w]: the Wan DiT's input
        if (hiddenOnly)
        {
            if (returnHiddenAfter is not { Length: > 0 }) throw new ArgumentException("OmniAvatarModel: hidden states requested without a block index");
            var hidden = wan.hidden_states(xy, t, context, returnHiddenAfter, hooks: hooks);
            scope.KeepAll(hidden.ToArray());
            return new DiTOutput(null!, hidden);
        }
        var o = wan.forward(xy, t, context, null, null, returnHiddenAfter, hooks);
        scope.Keep(o.Output);
        scope.KeepAll(o.Hidden.ToArray());
        return o;
    }

    /// <summary>Only the residual stream [B, S, dim] after the listed blocks (the APT discriminator's input), running
    /// the blocks up to the last of them; equal to the hidden states of the full <see cref="forward_with_audio_terms"/>.</summary>
    public IReadOnlyList<Tensor> hidden_states(Tensor x, Tensor t, Tensor context, Tensor y, Tensor? audioCond, int[] blocks) =>
        forward_with_audio_terms(x, t, context, y, audioCond, null, blocks, hiddenOnly: true).Hidden;
}
