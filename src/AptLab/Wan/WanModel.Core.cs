using AptLab.Torch.nn;

namespace AptLab.Wan;

// The shared token pipeline of both forward interfaces: embeddings, blocks, head, patchify/unpatchify.
public sealed partial class WanModel
{
    /// <summary>Patch embedding flattened to tokens (row-major over (f, h, w)): [B, in_dim, F, H, W] → [B, L, dim].</summary>
    public Tensor Patchify(Tensor x)
    {
        using var scope = torch.NewScope();
        var y = patch_embedding.forward(x.As(patch_embedding.weight.dtype)).As(ParamDtype);   // [B, dim, F', H', W']
        return scope.Keep(y.flatten(2).transpose(1, 2).contiguous());         // [B, L, dim]
    }

    /// <summary>Head output tokens [B, ≥L, out_dim·pt·ph·pw] → video [B, out_dim, F, H, W]; the vector of a
    /// token is laid out (pt, ph, pw, C) with C fastest (docs/wan-dit.md#forward-pass). Rows past f·h·w are dropped.</summary>
    public Tensor Unpatchify(Tensor tokens, (int F, int H, int W) grid)
    {
        using var scope = torch.NewScope();
        var (pt, ph, pw) = config.PatchSize;
        long b = tokens.size(0), c = config.OutDim, n = (long)grid.F * grid.H * grid.W;
        var u = tokens.narrow(1, 0, n).reshape(b, grid.F, grid.H, grid.W, pt, ph, pw, c);
        var v = u.permute(0, 7, 1, 4, 2, 5, 3, 6);                             // [B, C, F', pt, H', ph, W', pw]
        return scope.Keep(v.reshape(b, c, (long)grid.F * pt, (long)grid.H * ph, (long)grid.W * pw));
    }

    /// <summary>Time path (float32 island): e = time_embedding(sinusoid(t)) [B, dim] and
    /// e0 = time_projection(e) viewed [B, 6, dim].</summary>
    public (Tensor e, Tensor e0) TimeEmbedding(Tensor t, long batch)
    {
        using var scope = torch.NewScope();
        var tt = t.reshape(-1);
        if (tt.size(0) == 1 && batch > 1) tt = tt.expand(batch);
        if (tt.size(0) != batch) throw new ArgumentException($"WanModel: t has {tt.size(0)} values for a batch of {batch}");
        var s = WanSinusoid.Embed(config.FreqDim, tt).As(Island);              // [B, freq_dim]
        var e = IslandLinear(time_embedding[2], IslandLinear(time_embedding[0], s).silu());   // [B, dim]
        var e0 = IslandLinear(time_projection[1], e.silu()).unflatten(1, 6, config.Dim);      // [B, 6, dim]
        scope.KeepAll(e, e0);
        return (e, e0);
    }

    /// <summary>Text context (zero-padded to text_len) through text_embedding, with the I2V image tokens
    /// img_emb(clip_fea) first: [B, text_len, text_dim] → [B, (N_img +) text_len, dim].</summary>
    public Tensor EmbedContext(Tensor paddedContext, Tensor? clip_fea)
    {
        using var scope = torch.NewScope();
        var c = ((Linear)text_embedding[2]).Apply(F.gelu(((Linear)text_embedding[0]).Apply(paddedContext), tanh: true));
        if (clip_fea is not null)
        {
            if (clip_fea.dim() != 3 || clip_fea.size(0) != paddedContext.size(0) || clip_fea.size(2) != config.ClipDim)
                throw new ArgumentException($"WanModel: clip_fea must be [{paddedContext.size(0)}, N_img, {config.ClipDim}], got [{string.Join(", ", clip_fea.shape)}]");
            var img = img_emb!.forward(clip_fea);                               // [B, N_img, dim]
            c = torch.cat([img.As(c.dtype), c], 1);
        }
        return scope.Keep(c);
    }

    private Tensor IslandLinear(Module<Tensor, Tensor> m, Tensor x)
    {
        var lin = (Linear)m;
        if (lin.weight.dtype == Island) return F.linear(x, lin.weight, lin.bias);
        return F.linear(x, lin.weight.As(Island), lin.bias?.As(Island));
    }

    /// <summary>
    /// tokens: [B, S, dim] (zero rows past each sample's f·h·w); paddedContext: [B, text_len, text_dim].
    /// Returns the head output [B, S, out_dim·pt·ph·pw] and the hidden states after the requested blocks.
    /// With <paramref name="hiddenOnly"/> the blocks after the last requested one and the head are skipped
    /// (output null). <paramref name="hooks"/> (batched path only, one grid) run as <see cref="WanHook"/> describes.
    /// </summary>
    private (Tensor? output, List<Tensor> hidden) ForwardTokens(Tensor tokens, (int F, int H, int W)[] grids, long seqLen,
        Tensor t, Tensor paddedContext, Tensor? clip_fea, int[]? returnHiddenAfter, bool hiddenOnly = false, IReadOnlyList<WanHook>? hooks = null)
    {
        using var scope = torch.NewScope();
        long b = tokens.size(0);
        hooks ??= [];
        foreach (var i in returnHiddenAfter ?? [])
            if (i < 0 || i >= blocks.Count)
                throw new ArgumentException($"WanModel: returnHiddenAfter has block {i}, but the model has blocks 0..{blocks.Count - 1}");
        var (e, e0) = TimeEmbedding(t.to(tokens.device), b);                   // [B, dim], [B, 6, dim]
        var context = EmbedContext(paddedContext, clip_fea);                    // [B, Lc, dim]
        var rope = WanRope.Table(config.HeadDim, grids, seqLen, Island, tokens.device);   // [B|1, S, 1, d/2]
        var lens = grids.Select(g => (long)g.F * g.H * g.W).ToArray();
        Tensor? keyMask = lens.All(l => l == seqLen) ? null
            : F.key_padding_mask(torch.tensor(lens).to(tokens.device), seqLen);  // [B, 1, 1, S]
        foreach (var h in hooks) tokens = h.OnPatchTokens(tokens, grids[0]);
        Tensor? present = null;                                                 // [B, S + E] bool once an extra token can be absent
        foreach (var h in hooks)
            if (h.ExtraTokens(b, grids[0]) is { } extra)
            {
                if (keyMask is not null) throw new ArgumentException("WanModel: extra tokens need one grid for the whole batch");
                long before = tokens.size(1), added = extra.Tokens.size(1);
                tokens = torch.cat([tokens, extra.Tokens.As(tokens.dtype)], 1);  // [B, S + E, dim]
                rope = torch.cat([rope, WanRope.Positions(config.HeadDim, extra.F, extra.H, extra.W, Island, tokens.device)], 1);
                if (extra.Present is null && present is null) continue;
                if (extra.Present is { } p && (p.dim() != 2 || p.size(0) != b || p.size(1) != added))
                    throw new ArgumentException($"WanModel: extra tokens' Present must be [{b}, {added}], got [{string.Join(", ", p.shape)}]");
                present ??= torch.ones([b, before], ScalarType.Bool, tokens.device);
                present = torch.cat([present, extra.Present?.to(tokens.device, ScalarType.Bool) ?? torch.ones([b, added], ScalarType.Bool, tokens.device)], 1);
            }
        if (present is not null) keyMask = present.view(b, 1, 1, present.size(1));   // [B, 1, 1, S + E]
        var hidden = new List<Tensor>();
        var x = tokens;
        Tensor? skipped = hiddenOnly ? null : hooks.Select(h => h.SkipBlocks(tokens, e0)).FirstOrDefault(s => s is not null);
        if (skipped is not null) x = skipped;
        else
        {
            bool checkpoint = GradientCheckpointing && torch.is_grad_enabled();
            int last = hiddenOnly ? returnHiddenAfter!.Max() : blocks.Count - 1;
            var grid = grids[0];
            for (int i = 0; i <= last; i++)
            {
                var block = blocks[i];
                int index = i;
                foreach (var h in hooks) x = h.BeforeBlock(i, x, grid);
                Func<Tensor, Tensor>? afterCross = hooks.Count == 0 ? null : u =>
                {
                    foreach (var h in hooks) u = h.AfterCrossAttention(index, u);
                    return u;
                };
                if (checkpoint)
                {
                    var attnDtype = AttentionDtype;
                    var inputs = keyMask is null ? new[] { x, e0, context, rope } : new[] { x, e0, context, rope, keyMask };
                    // The block's parameters only receive gradients through a checkpoint whose input requires grad.
                    if (!x.requires_grad) inputs[0] = x.detach().requires_grad_();
                    x = Autograd.checkpoint(a => [block.forward(a[0], a[1], a[2], a[3], a.Length > 4 ? a[4] : null, attnDtype, afterCross)], inputs)[0];
                }
                else x = block.forward(x, e0, context, rope, keyMask, AttentionDtype, afterCross);   // [B, S, dim]
                if (returnHiddenAfter is not null)
                    foreach (var j in returnHiddenAfter) if (j == i) hidden.Add(x.alias());
            }
            if (!hiddenOnly) foreach (var h in hooks) h.AfterBlocks(tokens, x);
        }
        scope.KeepAll(hidden.ToArray());
        if (hiddenOnly) return (null, hidden);
        var output = head.forward(x, e);                                        // [B, S, out_dim·pt·ph·pw]
        return (scope.Keep(output), hidden);
    }

    private void CheckConditioning(Tensor? clip_fea, bool hasY)
    {
        if (config.IsI2V && (clip_fea is null || !hasY))
            throw new ArgumentException("WanModel (i2v): clip_fea and y are required");
        if (!config.IsI2V && (clip_fea is not null || hasY))
            throw new ArgumentException("WanModel (t2v): clip_fea and y are only accepted by an i2v model");
    }

    private (int F, int H, int W) CheckLatent(long[] s, string name)    // s: [C, F, H, W]
    {
        var (pt, ph, pw) = config.PatchSize;
        if (s.Length != 4 || s[0] != config.InDim)
            throw new ArgumentException($"WanModel: {name} (with y) must have in_dim = {config.InDim} channels, got shape [{string.Join(", ", s)}]");
        if (s[1] % pt != 0 || s[2] % ph != 0 || s[3] % pw != 0)
            throw new ArgumentException($"WanModel: {name} frames/height/width [{s[1]}, {s[2]}, {s[3]}] must be multiples of the patch size {config.PatchSize}");
        return ((int)(s[1] / pt), (int)(s[2] / ph), (int)(s[3] / pw));
    }

    private static Tensor PadTokens(Tensor tokens, long seqLen) =>         // [B, L, dim] → [B, S, dim]
        tokens.size(1) == seqLen ? tokens : F.pad(tokens, [0, 0, 0, seqLen - tokens.size(1)]);

    private Tensor PadContext(Tensor context, long batch, string name = "context")   // [B, Lt, text_dim] → [B, text_len, text_dim]
    {
        if (context.dim() != 3 || context.size(0) != batch || context.size(2) != config.TextDim)
            throw new ArgumentException($"WanModel: {name} must be [{batch}, Lt, {config.TextDim}], got [{string.Join(", ", context.shape)}]");
        if (context.size(1) > config.TextLen)
            throw new ArgumentException($"WanModel: {name} has {context.size(1)} rows, more than text_len {config.TextLen}");
        var c = context.As(ParamDtype);
        return c.size(1) == config.TextLen ? c : F.pad(c, [0, 0, 0, config.TextLen - c.size(1)]);
    }
}
