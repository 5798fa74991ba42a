using AptLab.Diffusion;
using AptLab.Torch.nn;

namespace AptLab.Wan;

/// <summary>The output of the official list-style forward: one prediction [out_dim, F_i, H_i, W_i] per sample.</summary>
public sealed record WanDiTListOutput(IReadOnlyList<Tensor> Outputs, IReadOnlyList<Tensor> Hidden);

/// <summary>
/// The Wan 2.1 diffusion transformer (<c>WanModel</c>, docs/wan-dit.md#forward-pass), text-to-video and image-to-video. Parameter
/// names equal the official state-dict keys (docs/wan-dit.md#checkpoints), so released checkpoints load strictly.
/// <code>
/// patch_embedding → tokens [B, S, dim] (zero-padded to seq_len)
/// t → sinusoid → time_embedding = e → time_projection = e0 [B, 6, dim]
/// context → zero-pad to text_len → text_embedding (I2V: img_emb(clip_fea) rows first)
/// blocks (self-attn with 3D RoPE, cross-attn, FFN, 6-way modulation) → head(x, e) → unpatchify
/// </code>
/// </summary>
public sealed partial class WanModel : Module
{
    public readonly WanConfig config;
    public readonly Conv3d patch_embedding;           // Conv3d(in_dim → dim, kernel = stride = patch)
    public readonly Sequential text_embedding;        // [0] Linear(text_dim → dim) [1] GELU_tanh [2] Linear(dim → dim)
    public readonly Sequential time_embedding;        // [0] Linear(freq_dim → dim) [1] SiLU [2] Linear(dim → dim)
    public readonly Sequential time_projection;       // [0] SiLU [1] Linear(dim → 6·dim)
    public readonly ModuleList<WanAttentionBlock> blocks;
    public readonly WanHead head;
    public readonly WanMlpProj? img_emb;              // I2V only

    /// <summary>Recompute each block in backward instead of storing its activations (Autograd.checkpoint).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Dtype the attention products run in (e.g. bfloat16 as upstream's flash-attn); null = the
    /// activations' dtype. q, k, v are cast to it and the result cast back.</summary>
    public ScalarType? AttentionDtype { get; set; }

    public WanModel(WanConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null, Generator? generator = null)
    {
        this.config = config.Validate();
        var c = config;
        var p = c.PatchSize;
        patch_embedding = RegisterModule("patch_embedding",
            new Conv3d(c.InDim, c.Dim, [p.T, p.H, p.W], stride: [p.T, p.H, p.W], dtype: dtype, device: device));
        text_embedding = RegisterModule("text_embedding", new Sequential(
            new Linear(c.TextDim, c.Dim, dtype: dtype, device: device), new GELU(tanh: true),
            new Linear(c.Dim, c.Dim, dtype: dtype, device: device)));
        time_embedding = RegisterModule("time_embedding", new Sequential(
            new Linear(c.FreqDim, c.Dim, dtype: dtype, device: device), new SiLU(),
            new Linear(c.Dim, c.Dim, dtype: dtype, device: device)));
        time_projection = RegisterModule("time_projection", new Sequential(
            new SiLU(), new Linear(c.Dim, 6L * c.Dim, dtype: dtype, device: device)));
        blocks = RegisterModule("blocks", new ModuleList<WanAttentionBlock>(
            Enumerable.Range(0, c.NumLayers).Select(_ => new WanAttentionBlock(c, dtype, device))));
        head = RegisterModule("head", new WanHead(c.Dim, c.PatchOutDim, c.Eps, dtype, device));
        if (c.IsI2V) img_emb = RegisterModule("img_emb", new WanMlpProj(c.ClipDim, c.Dim, dtype, device));
        init_weights(generator);
    }

    /// <summary>
    /// The official initialisation (docs/wan-dit.md#initialisation): xavier-uniform Linear weights with zero biases, xavier-uniform
    /// patch embedding (as [dim, in_dim·pt·ph·pw]), N(0, 0.02) text/time embedding weights, zero head weight,
    /// modulation ~ N(0, 1)/√dim, norms 1 and 0.
    /// </summary>
    public void init_weights(Generator? generator = null)
    {
        using var _ = torch.no_grad();
        int dim = config.Dim;
        foreach (var (_, m) in named_modules())
            if (m is Linear lin)
            {
                init.xavier_uniform_(lin.weight, g: generator);
                if (lin.bias is not null) init.zeros_(lin.bias);
            }
        var w = patch_embedding.weight;                                        // [dim, in_dim, pt, ph, pw]
        long fanIn = w.numel() / w.size(0);
        init.uniform_(w, -Math.Sqrt(6.0 / (fanIn + w.size(0))), Math.Sqrt(6.0 / (fanIn + w.size(0))), generator);
        foreach (var seq in new[] { text_embedding, time_embedding })
            foreach (var (_, m) in seq.named_modules())
                if (m is Linear lin) init.normal_(lin.weight, 0, 0.02, generator);
        init.zeros_(head.head.weight);
        foreach (var b in blocks) init.normal_(b.modulation, 0, 1 / Math.Sqrt(dim), generator);
        init.normal_(head.modulation, 0, 1 / Math.Sqrt(dim), generator);
    }

    /// <summary>The compute dtype of the token stream: that of the (frozen) base weights. The patch embedding may be
    /// held in float32 as a trainable master copy (bf16 fine-tuning, docs/omniavatar.md#training); it then casts its input to
    /// its own dtype and its output back to this one.</summary>
    public ScalarType Dtype => ((Linear)text_embedding[0]).weight.dtype;
    private ScalarType ParamDtype => Dtype;
    private ScalarType Island => WanPrecision.Island(ParamDtype);

    /// <summary>Batched forward without padding (every sample has the same grid, seq_len = f·h·w).</summary>
    /// <param name="x">[B, C, F, H, W] noisy latent (C = in_dim, or in_dim − y's channels for I2V).</param>
    /// <param name="t">[B] timesteps (or a scalar for all samples).</param>
    /// <param name="context">[B, Lt, text_dim] text embeddings, Lt ≤ text_len; zero-padded to text_len
    /// (trailing zero rows are the same as trimmed contexts: there is no text mask).</param>
    /// <param name="clip_fea">I2V: [B, N_img, clip_dim] CLIP features (257 × 1280 for the releases).</param>
    /// <param name="y">I2V: [B, in_dim − C, F, H, W] conditioning (mask then image latent), concatenated to x.</param>
    /// <returns>[B, out_dim, F, H, W].</returns>
    public Tensor forward(Tensor x, Tensor t, Tensor context, Tensor? clip_fea = null, Tensor? y = null) =>
        forward(x, t, context, clip_fea, y, null).Output;

    /// <summary>Batched forward returning the hidden states after the blocks listed in
    /// <paramref name="returnHiddenAfter"/> (block indices, e.g. for the APT discriminator), with optional extension
    /// <paramref name="hooks"/> (<see cref="WanHook"/>: audio injection, extra tokens, TeaCache, ...).</summary>
    public DiTOutput forward(Tensor x, Tensor t, Tensor context, Tensor? clip_fea, Tensor? y, int[]? returnHiddenAfter,
        IReadOnlyList<WanHook>? hooks = null) =>
        ForwardBatched(x, t, context, clip_fea, y, returnHiddenAfter, hiddenOnly: false, hooks);

    /// <summary>Only the hidden states [B, S, dim] after the listed blocks (e.g. the APT discriminator's
    /// features): the later blocks and the head are not run. Inputs as in the batched forward.</summary>
    public IReadOnlyList<Tensor> hidden_states(Tensor x, Tensor t, Tensor context, int[] blocks, Tensor? clip_fea = null, Tensor? y = null,
        IReadOnlyList<WanHook>? hooks = null)
    {
        if (blocks.Length == 0) throw new ArgumentException("WanModel.hidden_states: no block index given");
        return ForwardBatched(x, t, context, clip_fea, y, blocks, hiddenOnly: true, hooks).Hidden;
    }

    private DiTOutput ForwardBatched(Tensor x, Tensor t, Tensor context, Tensor? clip_fea, Tensor? y, int[]? returnHiddenAfter, bool hiddenOnly,
        IReadOnlyList<WanHook>? hooks)
    {
        using var scope = torch.NewScope();
        if (x.dim() != 5) throw new ArgumentException($"WanModel: x must be [B, C, F, H, W], got [{string.Join(", ", x.shape)}]");
        CheckConditioning(clip_fea, y is not null);
        if (y is not null)
        {
            if (y.dim() != 5 || y.size(0) != x.size(0) || !y.shape[2..].SequenceEqual(x.shape[2..]))
                throw new ArgumentException($"WanModel: y [{string.Join(", ", y.shape)}] must match x [{string.Join(", ", x.shape)}] in batch and F, H, W");
            x = torch.cat([x, y.As(x.dtype)], 1);                              // [B, in_dim, F, H, W]
        }
        var grid = CheckLatent(x.shape[1..], "x");
        var tokens = Patchify(x);                                               // [B, L, dim]
        long b = x.size(0), seqLen = tokens.size(1);
        var ctx = PadContext(context, b);                                       // [B, text_len, text_dim]
        var grids = Enumerable.Repeat(grid, (int)b).ToArray();
        var (outTokens, hidden) = ForwardTokens(tokens, grids, seqLen, t, ctx, clip_fea, returnHiddenAfter, hiddenOnly, hooks);
        scope.KeepAll(hidden.ToArray());
        if (outTokens is null) return new DiTOutput(null!, hidden);
        var output = Unpatchify(outTokens, grid);                               // [B, out_dim, F, H, W]
        return new DiTOutput(scope.Keep(output), hidden);
    }

    /// <summary>
    /// The official list interface: <c>model(x, t, context, seq_len, clip_fea, y)</c>. Samples may have
    /// different grids; tokens are zero-padded to <paramref name="seq_len"/> and padded keys are masked in
    /// self-attention. x[i]: [C, F_i, H_i, W_i]; context[i]: [Lt_i, text_dim]; y[i]: [C_y, F_i, H_i, W_i];
    /// clip_fea: [B, N_img, clip_dim]; t: [B]. Returns one [out_dim, F_i, H_i, W_i] per sample and the hidden
    /// states [B, seq_len, dim] after the requested blocks.
    /// </summary>
    public WanDiTListOutput forward(IReadOnlyList<Tensor> x, Tensor t, IReadOnlyList<Tensor> context, long seq_len,
        Tensor? clip_fea = null, IReadOnlyList<Tensor>? y = null, int[]? returnHiddenAfter = null)
    {
        using var scope = torch.NewScope();
        int b = x.Count;
        if (b == 0) throw new ArgumentException("WanModel: x is empty");
        if (context.Count != b) throw new ArgumentException($"WanModel: {b} latents but {context.Count} contexts");
        if (y is not null && y.Count != b) throw new ArgumentException($"WanModel: {b} latents but {y.Count} y tensors");
        CheckConditioning(clip_fea, y is not null);
        var xs = new Tensor[b];
        for (int i = 0; i < b; i++)
        {
            if (x[i].dim() != 4) throw new ArgumentException($"WanModel: x[{i}] must be [C, F, H, W], got [{string.Join(", ", x[i].shape)}]");
            xs[i] = y is null ? x[i] : torch.cat([x[i], y[i].As(x[i].dtype)], 0);   // [in_dim, F, H, W]
        }
        var grids = xs.Select((u, i) => CheckLatent(u.shape, $"x[{i}]")).ToArray();
        var lens = grids.Select(g => (long)g.F * g.H * g.W).ToArray();
        if (lens.Max() > seq_len)
            throw new ArgumentException($"WanModel: seq_len {seq_len} is smaller than the {lens.Max()} tokens of the largest sample");
        // Patch embedding: one batched conv when the shapes agree, else per sample; then pad to seq_len.
        Tensor tokens;
        if (grids.All(g => g == grids[0]))
            tokens = PadTokens(Patchify(torch.stack(xs)), seq_len);            // [B, S, dim]
        else
            tokens = torch.cat(xs.Select(u => PadTokens(Patchify(u.unsqueeze(0)), seq_len)).ToList());
        var ctx = torch.stack(context.Select((c, i) => PadContext(c.unsqueeze(0), 1, $"context[{i}]").squeeze(0)).ToList());
        var (outTokens, hidden) = ForwardTokens(tokens, grids, seq_len, t, ctx, clip_fea, returnHiddenAfter);
        var outputs = new Tensor[b];
        for (int i = 0; i < b; i++)
            outputs[i] = scope.Keep(Unpatchify(outTokens!.narrow(0, i, 1).narrow(1, 0, lens[i]), grids[i]).squeeze(0));
        scope.KeepAll(hidden.ToArray());
        return new WanDiTListOutput(outputs, hidden);
    }
}
