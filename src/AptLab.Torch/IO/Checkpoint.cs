namespace AptLab.Torch.IO;

/// <summary>
/// One entry point for weights on disk, choosing the format by name and magic bytes:
/// <c>*.safetensors</c>, <c>*.safetensors.index.json</c> (sharded), <c>.pth/.pt/.bin/.ckpt</c> (torch.save zip), or a
/// folder holding exactly one of those. Loading is all or nothing: the whole file is validated and every tensor is
/// created before anything is returned, so a module is never half-loaded.
/// <code>
/// using var sd = Checkpoint.Load(path);
/// model.load_state_dict(sd, source: path);     // reports missing / unexpected / mismatched keys
/// </code>
/// </summary>
public static class Checkpoint
{
    /// <summary>Keys under which training scripts nest the state dict, unwrapped in this order.</summary>
    public static readonly string[] WrapperKeys = ["state_dict", "model", "module", "model_state_dict"];

    /// <summary>Loads a checkpoint's state dict (tensors by name). For a .pth whose top level is a dict of
    /// non-tensors (a training checkpoint), the first of <see cref="WrapperKeys"/> holding a dict is unwrapped,
    /// repeatedly; the other top-level values are returned in <see cref="StateDict.Extra"/>.</summary>
    /// <param name="keep">If given, only the tensors whose name it accepts are read (the others are never copied
    /// into memory); for a .pth it sees the keys of the dict that holds the tensors.</param>
    public static StateDict Load(string path, Func<string, bool>? keep = null)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) return Load(FindInFolder(full), keep);
        if (!File.Exists(full)) throw new FileNotFoundException($"checkpoint not found: {full}", full);
        switch (DetectFormat(full))
        {
            case Format.SafetensorsIndex:
                using (var f = ShardedSafetensors.Open(full)) return f.LoadAll(keep);
            case Format.Safetensors:
                using (var f = SafetensorsFile.Open(full)) return f.LoadAll(keep);
            default:
                return LoadPth(full, keep);
        }
    }

    /// <summary>Every tensor's name and shape, without reading tensor data: from the safetensors header(s), or from
    /// a .pth's pickle (the tensors stored under string keys of its dicts).</summary>
    public static IReadOnlyDictionary<string, long[]> ReadShapes(string path)
    {
        using var lazy = OpenLazy(path);
        if (lazy is not null) return lazy.Names.ToDictionary(n => n, n => lazy.Info(n).Shape, StringComparer.Ordinal);
        var full = Path.GetFullPath(path);
        return PthFile.ReadShapes(Directory.Exists(full) ? FindInFolder(full) : full);
    }

    /// <summary>Opens a safetensors checkpoint (file, index or folder) lazily; null for other formats.</summary>
    public static ITensorSource? OpenLazy(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) full = FindInFolder(full);
        if (!File.Exists(full)) throw new FileNotFoundException($"checkpoint not found: {full}", full);
        return DetectFormat(full) switch
        {
            Format.SafetensorsIndex => ShardedSafetensors.Open(full),
            Format.Safetensors => SafetensorsFile.Open(full),
            _ => null,
        };
    }

    /// <summary>Same as <see cref="Load"/>: the state dict, unwrapped from <c>state_dict</c>/<c>model</c>/<c>module</c>.</summary>
    public static StateDict LoadStateDict(string path) => Load(path);

    /// <summary>Writes a state dict, atomically, in the format the extension names: <c>.safetensors</c>, or
    /// <c>.pt/.pth/.bin/.ckpt</c> for torch.save's zip format (OmniAvatar's <c>pytorch_model.pt</c>).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> stateDict, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) Safetensors.Save(path, stateDict, metadata);
        else if (IsPthName(path)) PthWriter.Save(path, stateDict);
        else throw new ArgumentException($"cannot tell the checkpoint format from '{path}': use .safetensors, .pt, .pth, .bin or .ckpt");
    }

    private enum Format { Safetensors, SafetensorsIndex, Pth }

    private static bool IsPthName(string p) =>
        new[] { ".pth", ".pt", ".bin", ".ckpt", ".tar" }.Any(e => p.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    private static Format DetectFormat(string path)
    {
        if (path.EndsWith(".safetensors.index.json", StringComparison.OrdinalIgnoreCase)) return Format.SafetensorsIndex;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return Format.Safetensors;
        if (IsPthName(path)) return Format.Pth;
        // Unknown name: look at the first bytes (zip or pickle -> torch.save; otherwise try safetensors).
        Span<byte> head = stackalloc byte[4];
        using (var f = File.OpenRead(path)) head = head[..f.ReadAtLeast(head, 4, throwOnEndOfStream: false)];
        if (head.StartsWith("PK"u8) || (head.Length > 0 && head[0] == 0x80)) return Format.Pth;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return Format.SafetensorsIndex;
        return Format.Safetensors;
    }

    private static string FindInFolder(string dir)
    {
        var index = Directory.GetFiles(dir, "*.safetensors.index.json");
        if (index.Length == 1) return index[0];
        var single = Directory.GetFiles(dir, "*.safetensors");
        if (index.Length == 0 && single.Length == 1) return single[0];
        throw new InvalidDataException($"checkpoint folder {dir}: expected exactly one *.safetensors.index.json or one *.safetensors file, "
            + $"found {index.Length} index files and {single.Length} safetensors files");
    }

    private static StateDict LoadPth(string path, Func<string, bool>? keep)
    {
        var root = PthFile.Load(path, keep);
        try { return Unwrap(root, path, filtered: keep is not null); }
        catch { new StateDict { Extra = new Dictionary<string, object?> { ["root"] = root } }.Dispose(); throw; }   // frees every tensor, cycles included
    }

    private static StateDict Unwrap(object? root, string path, bool filtered)
    {
        var extra = new Dictionary<string, object?>();
        var cur = root;
        var trail = new List<string>();
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        while (cur is OrderedDictionary<object, object?> d && !d.Values.Any(v => v is Tensor))
        {
            if (!visited.Add(d)) throw new InvalidDataException($"{path}: the dict under '{string.Join(".", trail)}' contains itself (a corrupt or hostile file)");
            var key = WrapperKeys.FirstOrDefault(k => d.TryGetValue(k, out var v) && v is OrderedDictionary<object, object?>);
            if (key is null) break;
            foreach (var (k, v) in d)
                if (!Equals(k, key)) extra[string.Join(".", trail.Append(k.ToString()!))] = v;
            trail.Add(key);
            cur = d[key];
        }
        if (cur is not OrderedDictionary<object, object?> sd)
            throw new InvalidDataException($"{path}: holds a {Describe(cur)}, not a dict of tensors");
        var result = new StateDict { Source = path, Extra = extra };
        foreach (var (k, v) in sd)
        {
            if (v is Tensor t)
            {
                if (k is not string name) throw new InvalidDataException($"{path}: state dict key {k} is not a string");
                result.Add(name, t);
            }
            else extra[string.Join(".", trail.Append(k.ToString()!))] = v;
        }
        if (result.Count == 0 && !filtered)
            throw new InvalidDataException($"{path}: no tensors found" + (trail.Count > 0 ? $" under '{string.Join(".", trail)}'" : "")
                + $"; top-level keys: {string.Join(", ", ((root as OrderedDictionary<object, object?>)?.Keys.Select(k => k.ToString()) ?? []))}");
        return result;
    }

    private static string Describe(object? o) => o switch { null => "None", object?[] => "tuple", List<object?> => "list", _ => o.GetType().Name };
}
