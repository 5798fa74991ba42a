namespace AptLab.Torch.IO;

/// <summary>
/// Reads a PyTorch <c>torch.save</c> zip archive (<c>.pth</c>, <c>.pt</c>, <c>.bin</c>, <c>.ckpt</c>) without executing
/// anything: the pickle goes through the whitelist <see cref="TorchPickle"/>, storages are read from the memory-mapped
/// archive (each shared storage once), and tensors are rebuilt as views with their saved sizes, strides and storage
/// offsets, as <c>torch.load</c> returns them. All or nothing: every storage entry, size and view bound is checked
/// before any tensor is created. Errors are <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class PthFile
{
    /// <summary>Loads the whole object graph: dicts as <c>OrderedDictionary&lt;object, object?&gt;</c>, lists, tuples
    /// (<c>object?[]</c>), numbers, strings, and tensors as <see cref="Tensor"/> (<see cref="Parameter"/> for
    /// nn.Parameter values). Tensors belong to the dispose scope open at the call, if any (parameters to none).
    /// With <paramref name="keep"/>, a dict entry whose key is a string and whose value is a tensor is dropped,
    /// before any storage is read, unless <c>keep(key)</c> is true (e.g. only the <c>visual.</c> part of a CLIP
    /// checkpoint: the rest is never copied into memory).</summary>
    public static object? Load(string path, Func<string, bool>? keep = null)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"checkpoint not found: {full}", full);
        using var map = new MappedFile(full);
        var (root, prefix, byName) = ReadPickle(map, full);
        if (keep is not null) DropTensors(root, keep, new HashSet<object>(ReferenceEqualityComparer.Instance));

        // Validate every tensor against its storage entry before materialising anything.
        var tensors = new List<PickledTensor>();
        Collect(root, tensors, new HashSet<object>(ReferenceEqualityComparer.Instance));
        var storages = new Dictionary<string, (TorchStorageRef s, ZipEntry e)>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            var s = t.Storage;
            if (!storages.ContainsKey(s.Key))
            {
                var entryName = prefix + "data/" + s.Key;
                if (!byName.TryGetValue(entryName, out var e))
                    throw new InvalidDataException($"{full}: storage entry '{entryName}' is missing from the archive");
                if (e.Method != 0)
                    throw new InvalidDataException($"{full}: storage entry '{entryName}' is compressed (method {e.Method}); torch.save writes stored entries");
                long need = checked(s.Numel * s.Dtype.ElementSize());
                if (e.Size != need)
                    throw new InvalidDataException($"{full}: storage entry '{entryName}' has {e.Size} bytes but {s.Numel} x {s.Dtype.TorchName()} needs {need}");
                storages[s.Key] = (s, e);
            }
            else if (storages[s.Key].s.Dtype != s.Dtype)
                throw new InvalidDataException($"{full}: storage '{s.Key}' is used with two dtypes");
            long extent;
            try { extent = t.Extent(); }
            catch (OverflowException) { throw new InvalidDataException($"{full}: a tensor view on storage '{s.Key}' overflows"); }
            if (t.Size.Any(v => v < 0) || t.Stride.Any(v => v < 0) || extent > s.Numel)
                throw new InvalidDataException($"{full}: tensor of size [{string.Join(", ", t.Size)}], stride [{string.Join(", ", t.Stride)}], offset {t.Offset} lies outside its storage '{s.Key}' ({s.Numel} elements)");
        }

        // Materialise: one storage tensor per key, then views.
        var made = new Dictionary<PickledTensor, Tensor>(ReferenceEqualityComparer.Instance);
        var parameters = new List<Parameter>();
        try
        {
            using var scope = torch.NewScope();
            var storageTensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (key, (s, e)) in storages)
                unsafe { storageTensors[key] = RawTensor.Copy(map.At(e.DataOffset, e.Size), e.Size, s.Dtype, [s.Numel]); }
            foreach (var t in tensors)
            {
                if (made.ContainsKey(t)) continue;
                var view = storageTensors[t.Storage.Key].as_strided(t.Size, t.Stride, t.Offset);
                if (t.IsParameter)
                {
                    var p = new Parameter(view, t.RequiresGrad);
                    parameters.Add(p);
                    made[t] = p;
                }
                else
                {
                    if (t.RequiresGrad) view.requires_grad = true;
                    made[t] = scope.Keep(view);
                }
            }
            return Replace(root, made, new Dictionary<object, object?>(ReferenceEqualityComparer.Instance));
        }
        catch
        {
            foreach (var p in parameters) p.Dispose();
            foreach (var t in made.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>The name and shape of every tensor stored under a string key of a dict (for a flat state dict such as
    /// the released Wan checkpoints: its keys), read from the pickle alone: no storage is read.</summary>
    public static IReadOnlyDictionary<string, long[]> ReadShapes(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"checkpoint not found: {full}", full);
        using var map = new MappedFile(full);
        var (root, _, _) = ReadPickle(map, full);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        CollectShapes(root, shapes, new HashSet<object>(ReferenceEqualityComparer.Instance));
        return shapes;
    }

    /// <summary>The archive's pickle (tensors as placeholders), its folder prefix and its entries by name.</summary>
    private static (object? root, string prefix, Dictionary<string, ZipEntry> byName) ReadPickle(MappedFile map, string full)
    {
        CheckMagic(map);
        var entries = ZipDirectory.Read(map);
        var pkl = FindPickle(entries, full);
        var prefix = pkl.Name[..^"data.pkl".Length];
        var byName = entries.GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        if (byName.TryGetValue(prefix + "byteorder", out var bo) && bo.Method == 0)
        {
            var order = System.Text.Encoding.ASCII.GetString(map.Span(bo.DataOffset, (int)Math.Min(bo.Size, 16)));
            if (order.Trim() != "little") throw new InvalidDataException($"{full}: byte order '{order.Trim()}' is not supported");
        }
        return (TorchPickle.Load(map.Span(pkl.DataOffset, checked((int)pkl.Size)), $"{full} ({pkl.Name})"), prefix, byName);
    }

    private static void DropTensors(object? o, Func<string, bool> keep, HashSet<object> seen)
    {
        if (o is null || o is string || !seen.Add(o)) return;
        switch (o)
        {
            case OrderedDictionary<object, object?> d:
                foreach (var k in d.Where(kv => kv.Key is string s && kv.Value is PickledTensor && !keep(s)).Select(kv => kv.Key).ToList())
                    d.Remove(k);
                foreach (var v in d.Values) DropTensors(v, keep, seen);
                break;
            case List<object?> l: foreach (var v in l) DropTensors(v, keep, seen); break;
            case object?[] a: foreach (var v in a) DropTensors(v, keep, seen); break;
        }
    }

    private static void CollectShapes(object? o, Dictionary<string, long[]> into, HashSet<object> seen)
    {
        if (o is null || o is string || !seen.Add(o)) return;
        switch (o)
        {
            case OrderedDictionary<object, object?> d:
                foreach (var (k, v) in d)
                    if (k is string s && v is PickledTensor t) into[s] = t.Size;
                    else CollectShapes(v, into, seen);
                break;
            case List<object?> l: foreach (var v in l) CollectShapes(v, into, seen); break;
            case object?[] a: foreach (var v in a) CollectShapes(v, into, seen); break;
        }
    }

    private static void CheckMagic(MappedFile map)
    {
        if (map.Length >= 4 && map.Span(0, 4).SequenceEqual("PK\x03\x04"u8)) return;
        if (map.Length >= 2 && map.Span(0, 1)[0] == 0x80)
            throw new InvalidDataException($"{map.Path}: this is the legacy (pre-1.6, non-zip) torch.save format, which AptLab does not read. "
                + "Re-save it with PyTorch >= 1.6 (torch.save(torch.load(f), f)) or convert it to safetensors.");
        if (map.Length >= 262 && map.Span(257, 5).SequenceEqual("ustar"u8))
            throw new InvalidDataException($"{map.Path}: this is the legacy tar torch.save format (PyTorch < 0.4), which AptLab does not read.");
        throw new InvalidDataException($"{map.Path}: not a torch.save zip archive (it does not start with 'PK\\x03\\x04')");
    }

    private static ZipEntry FindPickle(List<ZipEntry> entries, string path)
    {
        var pkls = entries.Where(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal) && e.Name.Count(c => c == '/') == 1).ToList();
        if (pkls.Count != 1)
            throw new InvalidDataException($"{path}: expected one '<folder>/data.pkl' entry in the archive, found {pkls.Count}");
        if (pkls[0].Method != 0) throw new InvalidDataException($"{path}: '{pkls[0].Name}' is compressed; torch.save writes stored entries");
        return pkls[0];
    }

    private static void Collect(object? o, List<PickledTensor> into, HashSet<object> seen)
    {
        if (o is null || o is string || !seen.Add(o)) return;
        switch (o)
        {
            case PickledTensor t: into.Add(t); break;
            case OrderedDictionary<object, object?> d: foreach (var (k, v) in d) { Collect(k, into, seen); Collect(v, into, seen); } break;
            case List<object?> l: foreach (var v in l) Collect(v, into, seen); break;
            case object?[] a: foreach (var v in a) Collect(v, into, seen); break;
            case HashSet<object?> s: foreach (var v in s) Collect(v, into, seen); break;
        }
    }

    /// <summary>Rebuilds the graph with tensors in place of placeholders (shared containers stay shared).</summary>
    private static object? Replace(object? o, Dictionary<PickledTensor, Tensor> made, Dictionary<object, object?> done)
    {
        if (o is null || o is string) return o;
        if (o is PickledTensor t) return made[t];
        if (done.TryGetValue(o, out var r)) return r;
        switch (o)
        {
            case OrderedDictionary<object, object?> d:
                var nd = new OrderedDictionary<object, object?>();
                done[o] = nd;
                foreach (var (k, v) in d) nd[Replace(k, made, done)!] = Replace(v, made, done);
                return nd;
            case List<object?> l:
                var nl = new List<object?>(l.Count);
                done[o] = nl;
                foreach (var v in l) nl.Add(Replace(v, made, done));
                return nl;
            case object?[] a:
                var na = new object?[a.Length];
                done[o] = na;
                for (int i = 0; i < a.Length; i++) na[i] = Replace(a[i], made, done);
                return na;
            default:
                return o;
        }
    }
}
