using System.Text;
using AptLab.Torch.IO;
using AptLab.Torch.nn;

namespace AptLab.Evaluation.Weights;

/// <summary>A public checkpoint an evaluation network needs: its file name(s), where to get it, what it is.</summary>
/// <param name="Metric">the metric that needs it (FID, FVD, Sync)</param>
/// <param name="FileNames">accepted file names, the usual one first</param>
/// <param name="Source">where to download it</param>
public sealed record WeightsInfo(string Metric, string[] FileNames, string Source)
{
    public string FileName => FileNames[0];
}

/// <summary>
/// Finding and loading the public evaluation checkpoints under their own key names (docs/evaluation.md, "Weights"):
/// strict (every key of the network present, nothing unknown, shapes equal), except that BatchNorm's
/// <c>num_batches_tracked</c> may be absent, as in checkpoints saved before PyTorch 0.4.1 (it is unused in eval mode).
/// </summary>
public static class EvaluationWeights
{
    /// <summary>The file for <paramref name="info"/>: <paramref name="explicitPath"/> when given, else the first of
    /// <see cref="WeightsInfo.FileNames"/> found in <paramref name="weightsDir"/>. Missing: one error naming the file,
    /// where to download it and where to put it.</summary>
    public static string Resolve(WeightsInfo info, string? weightsDir, string? explicitPath = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            var full = Path.GetFullPath(explicitPath);
            if (File.Exists(full)) return full;
            throw new FileNotFoundException(Missing(info, full), full);
        }
        var dir = Path.GetFullPath(string.IsNullOrWhiteSpace(weightsDir) ? DefaultDir : weightsDir);
        foreach (var name in info.FileNames)
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        var expected = Path.Combine(dir, info.FileName);
        throw new FileNotFoundException(Missing(info, expected), expected);
    }

    /// <summary>Where the weights are looked for when no folder is named: <c>checkpoints/eval</c> under the working directory.</summary>
    public static string DefaultDir => Path.Combine("checkpoints", "eval");

    private static string Missing(WeightsInfo info, string expected) =>
        $"{info.Metric} needs the weights file {info.FileName}, not found at {expected}. Download it from {info.Source} "
        + $"and put it there (or pass --weights-dir DIR / set evaluation.weights_dir)"
        + (info.FileNames.Length > 1 ? $"; also accepted: {string.Join(", ", info.FileNames.Skip(1))}" : "")
        + ". For a smoke run without it use --random-weights (numbers then not comparable to published ones).";

    /// <summary>Loads <paramref name="path"/> (safetensors or torch.save) into <paramref name="module"/>; see
    /// <see cref="LoadState"/>.</summary>
    public static void Load(Module module, string path, Func<string, string?>? rename = null, string? network = null)
    {
        using var sd = Checkpoint.Load(path);
        LoadState(module, sd, rename, network ?? module.GetType().Name, Path.GetFullPath(path));
    }

    /// <summary>
    /// Copies <paramref name="state"/> into <paramref name="module"/> after <paramref name="rename"/> maps each
    /// checkpoint key to the module's key (null: a key the network does not use, dropped). Missing keys (other than
    /// <c>num_batches_tracked</c>), unknown keys and shape mismatches are reported together, and nothing is copied.
    /// </summary>
    public static void LoadState(Module module, IReadOnlyDictionary<string, Tensor> state, Func<string, string?>? rename,
        string network, string source)
    {
        var renamed = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in state)
        {
            var n = rename is null ? k : rename(k);
            if (n is null) continue;
            if (!renamed.TryAdd(n, v)) throw new InvalidDataException($"{source}: two tensors map to the {network} key '{n}'");
        }
        var own = module.state_dict();
        var missing = own.Keys.Where(k => !renamed.ContainsKey(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        var unexpected = renamed.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var sb = new StringBuilder($"{source} is not a {network} checkpoint under the official key names:");
            if (missing.Count > 0) sb.Append($"\n  missing keys ({missing.Count}): ").Append(List(missing));
            if (unexpected.Count > 0) sb.Append($"\n  unexpected keys ({unexpected.Count}): ").Append(List(unexpected));
            throw new InvalidDataException(sb.ToString());
        }
        module.load_state_dict(renamed, strict: false, source: source);   // shape mismatches are still errors
    }

    private static string List(List<string> keys) =>
        string.Join(", ", keys.Take(12)) + (keys.Count > 12 ? $", ... ({keys.Count - 12} more)" : "");

    /// <summary>
    /// Seeded random weights for smoke runs (<c>--random-weights</c>), drawn as the reference cases draw them so that
    /// activations stay O(1) through deep conv stacks: conv/linear weights ~ N(0, 1/fan_in), biases ~ U(-0.1, 0.1),
    /// BatchNorm weight ~ U(0.75, 1.25), bias ~ U(-0.1, 0.1), running_mean ~ U(-0.1, 0.1), running_var ~ U(0.4, 0.6).
    /// Numbers computed with them are not comparable to published ones.
    /// </summary>
    public static void Randomize(Module module, long seed)
    {
        using var g = new Generator(unchecked((ulong)seed));
        using var _ = torch.no_grad();
        foreach (var (_, m) in module.named_modules())
            switch (m)
            {
                case ConvNd c:
                    init.normal_(c.weight, 0, 1 / Math.Sqrt(init.fans(c.weight).fanIn), g);
                    if (c.bias is not null) init.uniform_(c.bias, -0.1, 0.1, g);
                    break;
                case Linear l:
                    init.normal_(l.weight, 0, 1 / Math.Sqrt(l.in_features), g);
                    if (l.bias is not null) init.uniform_(l.bias, -0.1, 0.1, g);
                    break;
                case BatchNorm bn:
                    if (bn.weight is not null) init.uniform_(bn.weight, 0.75, 1.25, g);
                    if (bn.bias is not null) init.uniform_(bn.bias, -0.1, 0.1, g);
                    init.uniform_(bn.running_mean, -0.1, 0.1, g);
                    init.uniform_(bn.running_var, 0.4, 0.6, g);
                    break;
            }
    }
}
