using AptLab.Diffusion;
using AptLab.Avatar.Inference;
using AptLab.Wan;
using AptLab.Torch.nn;

namespace AptLab.Avatar;

/// <summary>
/// The OmniAvatar DiT (spec omniavatar §2): Wan 2.1's DiT with a 33-channel patch embedding and the audio branch.
/// It reuses the parts of a <see cref="WanModel"/> (patch/text/time embeddings, blocks, head) registered under the
/// same names, so the state-dict keys are exactly OmniAvatar's:
/// <code>
/// patch_embedding text_embedding.{0,2} time_embedding.{0,2} time_projection.1 blocks.N.* head.*
/// audio_proj.proj audio_proj.norm_out audio_cond_projs.{0..K-1}        (K = num_layers/2 − 1)
/// </code>
/// Forward: tokens = patch_embedding(cat(x, y)); before block i ∈ [2, num_layers/2] every token of latent frame f
/// gets <c>audio_cond_projs[i−2](AudioPack(audio))[f]</c> added. Unlike the original (whose concat-then-reshape
/// mixes batch and projection indices for B &gt; 1), the projections are stacked on a new dim, so each sample of a
/// batch gets its own audio.
/// </summary>
public sealed class OmniAvatarModel : Module
{
    public readonly OmniAvatarConfig config;
    public readonly WanModel wan;                      // the shared parts (not registered itself)
    public readonly AudioPack audio_proj;
    public readonly ModuleList<Linear> audio_cond_projs;

    /// <summary>Recompute each block in backward (activation checkpointing, spec §7.6); the audio add stays outside.</summary>
    public bool GradientCheckpointing { get; set; }

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
    /// patch embedding) may be float32 master copies in a bf16 model (<c>OmniAvatarTrainer</c>, spec §7.2): each of
    /// those layers casts its input to its own weight dtype and its output back to this one.</summary>
    public ScalarType Dtype => wan.Dtype;
    private ScalarType ParamDtype => Dtype;
    private ScalarType Island => ParamDtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary>
    /// The per-block audio terms of spec §2.2 steps 1–5, batch-correct: audio_emb [B, L, C] (L = 4T − 3 video
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
    /// (no audio branch at all). Returns the velocity [B, 16, T, h, w].
    /// </summary>
    public Tensor forward(Tensor x, Tensor t, Tensor context, Tensor y, Tensor? audio_emb, TeaCache? tea_cache = null)
    {
        using var scope = torch.NewScope();
        var cond = audio_emb is null ? null : AudioConditioning(audio_emb);
        return scope.Keep(Forward(x, t, context, y, cond, tea_cache).Output);
    }

    /// <summary>The forward with precomputed audio terms <paramref name="audioCond"/> [B, K, T, dim] (see
    /// <see cref="AudioConditioning"/>), an optional TeaCache, and the residual stream after the listed blocks.
    /// With <paramref name="hiddenOnly"/> the blocks stop after the last listed one and no velocity is computed
    /// (Output is null; see <see cref="hidden_states"/>).</summary>
    public DiTOutput Forward(Tensor x, Tensor t, Tensor context, Tensor y, Tensor? audioCond,
        TeaCache? teaCache = null, int[]? returnHiddenAfter = null, bool hiddenOnly = false)
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
        long b = x.size(0);
        var grid = ((int)(x.size(2) / pt), (int)(x.size(3) / ph), (int)(x.size(4) / pw));
        if (audioCond is not null &&
            (audioCond.dim() != 4 || audioCond.size(0) != b || audioCond.size(1) != config.NumAudioProjections || audioCond.size(2) != grid.Item1 || audioCond.size(3) != wc.Dim))
            throw new ArgumentException($"OmniAvatarModel: the audio terms must be [{b}, {config.NumAudioProjections}, {grid.Item1}, {wc.Dim}] " +
                $"(audio of {4 * grid.Item1 - 3} video frames for {grid.Item1} latent frames), got [{string.Join(", ", audioCond.shape)}]");

        var tokens = wan.Patchify(torch.cat([x, y.As(x.dtype)], 1));             // [B, S, dim]
        long seqLen = tokens.size(1);
        var (e, e0) = wan.TimeEmbedding(t.to(tokens.device), b);                  // [B, dim], [B, 6, dim]
        var ctx = wan.EmbedContext(PadContext(context, b), null);                 // [B, text_len, dim]
        var rope = WanRope.Table(wc.HeadDim, [grid], seqLen, Island, tokens.device);   // [1, S, 1, d/2]

        var hidden = new List<Tensor>();
        if (hiddenOnly)
        {
            if (returnHiddenAfter is not { Length: > 0 }) throw new ArgumentException("OmniAvatarModel: hidden states requested without a block index");
            RunBlocks(tokens, e0, ctx, rope, audioCond, grid, returnHiddenAfter, hidden, stopAfter: returnHiddenAfter.Max());
            scope.KeepAll(hidden.ToArray());
            return new DiTOutput(null!, hidden);
        }
        Tensor h;
        if (teaCache is not null && teaCache.Check(e0))
            h = tokens + teaCache.Residual!;                                      // skipped: cached residual of the blocks
        else
        {
            h = RunBlocks(tokens, e0, ctx, rope, audioCond, grid, returnHiddenAfter, hidden);
            teaCache?.Store(tokens, h);
        }
        var output = wan.Unpatchify(head.forward(h, e), grid);                    // [B, out_dim, T, h, w]
        scope.KeepAll(hidden.ToArray());
        return new DiTOutput(scope.Keep(output), hidden);
    }

    /// <summary>Only the residual stream [B, S, dim] after the listed blocks (the APT discriminator's input), running
    /// the blocks up to the last of them; equal to the hidden states of the full <see cref="Forward"/>.</summary>
    public IReadOnlyList<Tensor> hidden_states(Tensor x, Tensor t, Tensor context, Tensor y, Tensor? audioCond, int[] blocks) =>
        Forward(x, t, context, y, audioCond, null, blocks, hiddenOnly: true).Hidden;

    private Tensor RunBlocks(Tensor x, Tensor e0, Tensor ctx, Tensor rope, Tensor? audioCond, (int F, int H, int W) grid,
        int[]? returnHiddenAfter, List<Tensor> hidden, int stopAfter = int.MaxValue)
    {
        using var scope = torch.NewScope();
        long b = x.size(0), d = config.Wan.Dim, hw = (long)grid.H * grid.W;
        var (first, last) = config.AudioBlocks;
        bool checkpoint = GradientCheckpointing && torch.is_grad_enabled();
        var attnDtype = AttentionDtype;
        for (int i = 0; i < blocks.Count && i <= stopAfter; i++)
        {
            if (audioCond is not null && i >= first && i <= last)
            {
                // every token of latent frame f gets P[f]: [B, T, dim] → [B, T, 1, dim] broadcast over h·w
                var p = audioCond.select(1, i - first).unsqueeze(2).As(x.dtype);
                x = (x.view(b, grid.F, hw, d) + p).view(b, -1, d);               // [B, S, dim]
            }
            var block = blocks[i];
            if (checkpoint)
            {
                var inputs = new[] { x.requires_grad ? x : x.detach().requires_grad_(), e0, ctx, rope };
                x = Autograd.checkpoint(a => [block.forward(a[0], a[1], a[2], a[3], null, attnDtype)], inputs)[0];
            }
            else x = block.forward(x, e0, ctx, rope, null, attnDtype);            // [B, S, dim]
            if (returnHiddenAfter is not null && returnHiddenAfter.Contains(i)) hidden.Add(scope.Keep(x.alias()));
        }
        return scope.Keep(x);
    }

    private Tensor PadContext(Tensor context, long batch)                       // [B, Lt, text_dim] → [B, text_len, text_dim]
    {
        var wc = config.Wan;
        if (context.dim() != 3 || context.size(0) != batch || context.size(2) != wc.TextDim)
            throw new ArgumentException($"OmniAvatarModel: context must be [{batch}, Lt, {wc.TextDim}], got [{string.Join(", ", context.shape)}]");
        if (context.size(1) > wc.TextLen)
            throw new ArgumentException($"OmniAvatarModel: context has {context.size(1)} rows, more than text_len {wc.TextLen}");
        var c = context.As(ParamDtype);
        return c.size(1) == wc.TextLen ? c : F.pad(c, [0, 0, 0, wc.TextLen - c.size(1)]);
    }
}
