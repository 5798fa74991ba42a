using System.Text;
using AptLab.Torch.nn;

namespace AptLab.Torch.IO;

/// <summary>Loading checkpoints into modules. Safetensors checkpoints (single or sharded) are streamed: names,
/// shapes and dtypes are checked against the module from the headers first, then tensors are copied one at a time,
/// so peak memory is the module plus one tensor (a 14B sharded DiT never exists twice in memory). Other formats are
/// loaded whole and passed to <see cref="Module.load_state_dict"/>. Either way nothing is copied unless every key
/// and shape matches.</summary>
public static class CheckpointModule
{
    /// <summary>Loads <paramref name="path"/> (any format <see cref="Checkpoint.Load"/> reads) into
    /// <paramref name="module"/>. Missing keys, unexpected keys (when strict) and shape mismatches are reported
    /// together, naming the file, before anything is copied. Returns the missing and unexpected keys.</summary>
    public static (List<string> missing, List<string> unexpected) load_checkpoint(this Module module, string path, bool strict = true)
    {
        var full = Path.GetFullPath(path);
        using var source = Checkpoint.OpenLazy(full);
        if (source is null)
        {
            using var sd = Checkpoint.Load(full);
            return module.load_state_dict(sd, strict, source: full);
        }

        var own = module.state_dict();
        var names = source.Names.ToHashSet(StringComparer.Ordinal);
        var missing = own.Keys.Where(k => !names.Contains(k)).ToList();
        var unexpected = source.Names.Where(k => !own.ContainsKey(k)).ToList();
        var mismatched = own.Where(kv => names.Contains(kv.Key) && !kv.Value.shape.SequenceEqual(source.Info(kv.Key).Shape)).ToList();
        var unsupported = own.Keys.Where(k => names.Contains(k) && source.Info(k).ScalarType is null).ToList();
        if (mismatched.Count > 0 || unsupported.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            var sb = new StringBuilder($"Error(s) in loading state_dict for {module.GetType().Name} from {full}:");
            if (missing.Count > 0)
                sb.Append($"\n  missing keys ({missing.Count}): ").Append(string.Join(", ", missing.Select(k => $"{k} {Fmt(own[k].shape)}")));
            if (strict && unexpected.Count > 0)
                sb.Append($"\n  unexpected keys ({unexpected.Count}): ").Append(string.Join(", ", unexpected.Select(k => $"{k} {Fmt(source.Info(k).Shape)}")));
            foreach (var (k, t) in mismatched)
                sb.Append($"\n  size mismatch for {k}: checkpoint has {Fmt(source.Info(k).Shape)}, model expects {Fmt(t.shape)}");
            foreach (var k in unsupported)
                sb.Append($"\n  unsupported dtype for {k}: {source.Info(k).Dtype}");
            throw new InvalidDataException(sb.ToString());
        }

        using (torch.no_grad())
            foreach (var (k, t) in own)
            {
                if (!names.Contains(k)) continue;
                using var loaded = source.Load(k);
                t.copy_(loaded);
            }
        return (missing, unexpected);
    }

    /// <summary>Saves <paramref name="module"/>'s state dict to <paramref name="path"/> (format by extension), atomically.</summary>
    public static void save_checkpoint(this Module module, string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        Checkpoint.Save(path, module.state_dict(), metadata);

    private static string Fmt(long[] s) => "[" + string.Join(", ", s) + "]";
}
