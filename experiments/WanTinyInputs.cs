using System.Text.Json;
using AptLab.Data;
using AptLab.Torch.IO;
using AptLab.Torch.nn;
using AptLab.Training;
using AptLab.Wan;
using AptLab.Wan.Vae;

namespace AptLab.Experiments;

/// <summary>
/// The inputs of an apt-wan run with <c>wan.random_weights</c> (configs/apt-wan2.1-tiny.yaml), so that the recipe of the
/// released models runs end to end on CPU through the same code: for every path key left empty, rank 0 writes into
/// &lt;run&gt;/inputs/ (once; a resumed run finds them)
/// <list type="bullet">
/// <item><c>wan/</c>: a seeded random DiT of <c>wan.preset</c> in the release layout (diffusion_pytorch_model.safetensors
/// + config.json), every weight drawn by init.nontrivial_ (the official init's zero head would give v = 0);</item>
/// <item><c>images/</c>, <c>clips/</c>: LatentCache folders of <c>wan.random_samples</c> samples each, "latents" [16, f, h, w]
/// in the Wan 2.1 VAE's unnormalised scale (its mean + std x N(0, 1) per channel) at the image and video sizes, and
/// "context" [L, text_dim] (L &lt;= text_len, like umT5 outputs of captions of different lengths);</item>
/// <item><c>negative.safetensors</c>: "context" [L, text_dim], the CD teacher's CFG negative.</item>
/// </list>
/// The config's keys are set to these paths on every rank.
/// </summary>
public static class WanTinyInputs
{
    public static void Prepare(RunContext ctx)
    {
        var w = ctx.Config.Wan!;
        var arch = w.Architecture() ?? throw new ArgumentException("wan.random_weights needs wan.preset");
        var dir = ctx.Run.File("inputs");
        string Fill(string current, string name) => string.IsNullOrWhiteSpace(current) ? Path.Combine(dir, name) : current;
        (w.Checkpoint, w.ImageData, w.VideoData, w.NegativeContext) =
            (Fill(w.Checkpoint, "wan"), Fill(w.ImageData, "images"), Fill(w.VideoData, "clips"), Fill(w.NegativeContext, "negative.safetensors"));
        w.TextEncoderPath = "";
        ulong seed = ctx.Config.Seed + Seeds.RandomWanInputs;
        ctx.OnMain(() =>
        {
            if (!File.Exists(Path.Combine(w.Checkpoint, "diffusion_pytorch_model.safetensors"))) WriteDit(w.Checkpoint, arch, seed);
            if (!File.Exists(Path.Combine(w.ImageData, "index.jsonl"))) WriteCache(w.ImageData, w.LatentShape(video: false), w.RandomSamples, arch, seed + 1);
            if (!File.Exists(Path.Combine(w.VideoData, "index.jsonl"))) WriteCache(w.VideoData, w.LatentShape(video: true), w.RandomSamples, arch, seed + 2);
            if (!File.Exists(w.NegativeContext))
            {
                using var g = new Generator(seed + 3);
                using var scope = torch.NewScope();
                Safetensors.Save(w.NegativeContext, new Dictionary<string, Tensor> { ["context"] = torch.randn([Math.Max(1, arch.TextLen / 2), arch.TextDim], generator: g) });
            }
            ctx.Out.WriteLine($"[apt] random inputs (wan.random_weights, seed {seed}): {dir}");
        });
    }

    private static void WriteDit(string folder, WanConfig arch, ulong seed)
    {
        Directory.CreateDirectory(folder);
        using var g = new Generator(seed);
        using var model = new WanModel(arch, generator: g);
        init.nontrivial_(model, g);
        Safetensors.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"), model.state_dict());
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_type"] = arch.ModelType, ["text_len"] = arch.TextLen, ["in_dim"] = arch.InDim, ["dim"] = arch.Dim, ["ffn_dim"] = arch.FfnDim,
            ["freq_dim"] = arch.FreqDim, ["text_dim"] = arch.TextDim, ["out_dim"] = arch.OutDim, ["num_heads"] = arch.NumHeads,
            ["num_layers"] = arch.NumLayers, ["eps"] = arch.Eps,
        }, new JsonSerializerOptions { WriteIndented = true });
        RunDirectory.WriteAtomic(Path.Combine(folder, "config.json"), json);
    }

    private static void WriteCache(string folder, long[] shape, int count, WanConfig arch, ulong seed)
    {
        var cache = LatentCache.Open(folder);
        var stats = LatentStats.Wan21;
        using var g = new Generator(seed);
        for (int k = 0; k < count; k++)
        {
            using var scope = torch.NewScope();
            var mean = torch.tensor(stats.mean, stats.mean.Length).view(-1, 1, 1, 1);
            var std = torch.tensor(stats.std, stats.std.Length).view(-1, 1, 1, 1);
            long tokens = 1 + (k * 7 + 3) % arch.TextLen;                                   // captions of different lengths
            cache.Add($"s{k:D4}", $"random sample {k}", new Dictionary<string, Tensor>
            {
                ["latents"] = mean + std * torch.randn(shape, generator: g),                 // [16, f, h, w]
                ["context"] = torch.randn([tokens, arch.TextDim], generator: g),             // [L, text_dim]
            });
        }
    }
}
