using AptLab.Torch.IO;

namespace AptLab.Wan;

/// <summary>Official DiT checkpoints (<c>diffusion_pytorch_model*.safetensors</c> + <c>config.json</c>): variant
/// detection from key names and shapes (docs/wan-dit.md#checkpoints) and loading into a <see cref="WanModel"/>.</summary>
public static class WanCheckpoint
{
    /// <summary>
    /// The config implied by a checkpoint's keys and shapes: dim and in_dim from the patch embedding, ffn_dim,
    /// num_layers, i2v when <c>img_emb.proj.0.weight</c> exists, text/freq/CLIP widths, patch and out_dim from the
    /// head. num_heads and text_len are not recoverable from weights: <paramref name="headDim"/> (128 in every
    /// release) and <paramref name="textLen"/> (512) supply them.
    /// </summary>
    public static WanConfig DetectConfig(IReadOnlyDictionary<string, long[]> shapes, int headDim = 128, int textLen = 512, string source = "checkpoint")
    {
        long[] S(string key) => shapes.TryGetValue(key, out var s) ? s
            : throw new InvalidDataException($"{source}: no '{key}', so this is not a Wan 2.1 DiT checkpoint");
        if (shapes.ContainsKey("img_emb.emb_pos"))
            throw new NotSupportedException($"{source}: has img_emb.emb_pos, a first-last-frame (flf2v) model, which is not supported");
        var patch = S("patch_embedding.weight");                                // [dim, in_dim, pt, ph, pw]
        if (patch.Length != 5) throw new InvalidDataException($"{source}: patch_embedding.weight must be 5-D, got [{string.Join(", ", patch)}]");
        int dim = (int)patch[0];
        if (dim % headDim != 0) throw new InvalidDataException($"{source}: dim {dim} is not a multiple of head_dim {headDim}; pass the head dim");
        int layers = shapes.Keys.Where(k => k.StartsWith("blocks.")).Select(k => int.Parse(k.Split('.')[1])).DefaultIfEmpty(-1).Max() + 1;
        bool i2v = shapes.ContainsKey("img_emb.proj.0.weight");
        var (pt, ph, pw) = ((int)patch[2], (int)patch[3], (int)patch[4]);
        var cfg = new WanConfig
        {
            ModelType = i2v ? "i2v" : "t2v",
            PatchSize = (pt, ph, pw),
            TextLen = textLen,
            InDim = (int)patch[1],
            Dim = dim,
            FfnDim = (int)S("blocks.0.ffn.0.weight")[0],
            FreqDim = (int)S("time_embedding.0.weight")[1],
            TextDim = (int)S("text_embedding.0.weight")[1],
            OutDim = (int)(S("head.head.weight")[0] / (pt * ph * pw)),
            NumHeads = dim / headDim,
            NumLayers = layers,
            QkNorm = shapes.ContainsKey("blocks.0.self_attn.norm_q.weight"),
            CrossAttnNorm = shapes.ContainsKey("blocks.0.norm3.weight"),
            ClipDim = i2v ? (int)S("img_emb.proj.0.weight")[0] : 1280,
        };
        return cfg.Validate(source);
    }

    /// <summary>The files of a comma-separated shard list (a config value such as <c>dit_path</c>), as full paths
    /// (relative ones are taken from the working directory, as upstream's configs do).</summary>
    public static List<string> ShardPaths(string commaSeparated) =>
        commaSeparated.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Path.GetFullPath).ToList();

    /// <summary><see cref="DetectConfig(IReadOnlyDictionary{string, long[]}, int, int, string)"/> from the keys and shapes
    /// of safetensors shards, read lazily (no tensor is loaded). <paramref name="key"/> names the config key in errors.</summary>
    public static WanConfig DetectConfig(IReadOnlyList<string> shards, string key, int textLen = 512)
    {
        var shapes = new Dictionary<string, long[]>();
        foreach (var s in shards)
        {
            using var lazy = Checkpoint.OpenLazy(s) ?? throw new InvalidDataException($"{s}: {key} must name Wan 2.1 safetensors files");
            foreach (var n in lazy.Names) shapes[n] = lazy.Info(n).Shape;
        }
        return DetectConfig(shapes, textLen: textLen, source: string.Join(",", shards));
    }

    /// <summary>
    /// Builds a <see cref="WanModel"/> and loads <paramref name="path"/> (a .safetensors file, a sharded index or
    /// a model folder) strictly. Without <paramref name="config"/>, a <c>config.json</c> beside the weights is
    /// used, else the config is detected from the keys (head_dim 128, text_len 512).
    /// </summary>
    public static WanModel Load(string path, WanConfig? config = null, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (config is null)
        {
            var dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
            var json = Path.Combine(dir, "config.json");
            if (File.Exists(json)) config = WanConfig.FromJsonFile(json);
            else
            {
                using var src = Checkpoint.OpenLazy(path)
                    ?? throw new InvalidDataException($"{path}: config detection needs a safetensors checkpoint; pass a WanConfig");
                config = DetectConfig(src.Names.ToDictionary(n => n, n => src.Info(n).Shape), source: src.Source);
            }
        }
        var model = new WanModel(config, dtype, device);
        try { model.load_checkpoint(path); }
        catch { model.Dispose(); throw; }
        return model;
    }
}
