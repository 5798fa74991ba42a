using AptLab.Wan;
using AptLab.Torch.nn;

namespace AptLab.Wan.Clip;

/// <summary>
/// The CLIP vision tower as Wan's <c>clip.py</c> builds it (<c>VisionTransformer</c>, docs/wan-clip.md). State-dict
/// keys are the official ones (the released checkpoint holds them under <c>visual.</c>):
/// <code>
/// patch_embedding.weight      [dim, 3, p, p]     Conv2d, stride p, no bias (pre_norm)
/// cls_embedding               [1, 1, dim]        class token
/// pos_embedding               [1, 1 + g², dim]   learned positions, g = image_size / p
/// pre_norm.{weight,bias}      [dim]
/// transformer.{i}.*           ClipAttentionBlock, i = 0 .. num_layers − 1
/// post_norm.{weight,bias}     [dim]              built but never applied by forward
/// head                        [dim, out_dim]     built but never applied by forward
/// </code>
/// </summary>
public sealed class VisionTransformer : Module
{
    public readonly ClipVisionConfig config;
    public readonly Conv2d patch_embedding;
    public readonly Parameter cls_embedding, pos_embedding;
    public readonly WanLayerNorm? pre_norm;
    public readonly ModuleList<ClipAttentionBlock> transformer;
    public readonly WanLayerNorm post_norm;
    public readonly Parameter head;

    /// <summary>Builds the tower. On <see cref="Device.Meta"/> nothing is allocated (shape checks at full size);
    /// elsewhere the bare parameters get the official init N(0, 1)·dim^-1/2 (checkpoints overwrite it).</summary>
    public VisionTransformer(ClipVisionConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null, Generator? generator = null)
    {
        this.config = config.Validate();
        var c = config;
        long d = c.Dim;
        patch_embedding = RegisterModule("patch_embedding",
            new Conv2d(3, d, [c.PatchSize], stride: [c.PatchSize], bias: !c.PreNorm, dtype: dtype, device: device));
        cls_embedding = RegisterParameter("cls_embedding", torch.zeros([1, 1, d], dtype, device));
        pos_embedding = RegisterParameter("pos_embedding", torch.zeros([1, c.NumTokens, d], dtype, device));
        if (c.PreNorm) pre_norm = RegisterModule("pre_norm", new WanLayerNorm(d, c.NormEps, true, dtype, device));
        transformer = RegisterModule("transformer", new ModuleList<ClipAttentionBlock>(
            Enumerable.Range(0, c.NumLayers).Select(_ => new ClipAttentionBlock(c, dtype, device))));
        post_norm = RegisterModule("post_norm", new WanLayerNorm(d, c.NormEps, true, dtype, device));
        head = RegisterParameter("head", torch.zeros([d, c.OutDim], dtype, device));
        if ((device ?? Device.CPU).Type != DeviceType.Meta)
            using (torch.no_grad())
            {
                double gain = 1 / Math.Sqrt(d);
                foreach (var p in new[] { cls_embedding, pos_embedding, head }) p.normal_(0, gain, generator);
            }
    }

    /// <summary>Patch tokens before the class token: <c>patch_embedding(x)</c> flattened row-major over the patch
    /// grid. x: [B, 3, H, W] (cast to the weights' dtype) → [B, (H/p)·(W/p), dim].</summary>
    public Tensor PatchTokens(Tensor x)
    {
        using var scope = torch.NewScope();
        var p = patch_embedding.forward(x.As(patch_embedding.weight.dtype));    // [B, dim, H/p, W/p]
        return scope.Keep(p.flatten(2).transpose(1, 2));                         // [B, N, dim]
    }

    /// <summary>
    /// The input of block 0: <c>pre_norm(cat(cls, patches) + pos)</c>. x: [B, 3, H, W] → [B, 1 + N, dim]. Without
    /// <paramref name="interpolation"/> the image must have the configured size; with it, the position table is
    /// resized to the image's patch grid (<see cref="PosInterpolate"/>).
    /// </summary>
    public Tensor Embed(Tensor x, bool interpolation = false)
    {
        if (x.dim() != 4 || x.size(1) != 3)
            throw new ArgumentException($"VisionTransformer: pixels must be [B, 3, H, W], got [{string.Join(", ", x.shape)}]");
        long gh = x.size(2) / config.PatchSize, gw = x.size(3) / config.PatchSize;
        if (!interpolation && (gh != config.GridSize || gw != config.GridSize))
            throw new ArgumentException($"VisionTransformer: pixels are {x.size(3)}x{x.size(2)} but the tower takes {config.ImageSize}x{config.ImageSize} (resize first, or pass interpolation: true)");
        using var scope = torch.NewScope();
        var patches = PatchTokens(x);                                            // [B, N, dim]
        long b = patches.size(0);
        var tokens = torch.cat([cls_embedding.expand(b, -1, -1), patches], 1);  // [B, 1 + N, dim]
        var pos = interpolation ? PosInterpolate(pos_embedding, 1, gh, gw) : pos_embedding;   // [1, 1 + N, dim]
        var e = tokens + pos.As(tokens.dtype);
        return scope.Keep(pre_norm is null ? e : pre_norm.forward(e));
    }

    /// <summary>
    /// The tower's forward: <see cref="Embed"/> then the blocks. With <paramref name="use31Block"/> (what Wan uses)
    /// every block but the last runs; otherwise all do. Neither applies <c>post_norm</c> or <c>head</c>, as upstream.
    /// x: [B, 3, S, S] normalised pixels → [B, 1 + N, dim].
    /// </summary>
    public Tensor forward(Tensor x, bool interpolation = false, bool use31Block = false)
    {
        using var scope = torch.NewScope();
        var h = Embed(x, interpolation);
        int blocks = use31Block ? transformer.Count - 1 : transformer.Count;
        for (int i = 0; i < blocks; i++)
        {
            var next = transformer[i].forward(h);
            h.Dispose();
            h = next;
        }
        return scope.Keep(h);
    }

    /// <summary>
    /// The position table for a patch grid of <paramref name="gridH"/> × <paramref name="gridW"/>: the first
    /// <paramref name="prefixTokens"/> rows (the class token) unchanged, the square grid of the remaining rows
    /// bicubic-resized (align_corners false, float32). Upstream handles square grids only, where this is its
    /// <c>pos_interpolate</c>; the table is returned as is when the grid already matches.
    /// pos: [1, prefix + g², dim] → [1, prefix + gridH·gridW, dim] (float32 when resized).
    /// </summary>
    public static Tensor PosInterpolate(Tensor pos, int prefixTokens, long gridH, long gridW)
    {
        long n = pos.size(1) - prefixTokens, d = pos.size(2);
        long g = (long)Math.Sqrt(n);
        if (g * g != n) throw new ArgumentException($"PosInterpolate: {n} position rows after the prefix are not a square grid");
        if (g == gridH && g == gridW) return pos.alias();
        using var scope = torch.NewScope();
        var grid = pos.narrow(1, prefixTokens, n).to(ScalarType.Float32).reshape(1, g, g, d).permute(0, 3, 1, 2);   // [1, dim, g, g]
        var resized = F.interpolate(grid, [gridH, gridW], F.InterpolateMode.Bicubic, align_corners: false);          // [1, dim, gh, gw]
        var rows = resized.flatten(2).transpose(1, 2);                                                              // [1, gh·gw, dim]
        return scope.Keep(torch.cat([pos.narrow(1, 0, prefixTokens).to(ScalarType.Float32), rows], 1));
    }
}
