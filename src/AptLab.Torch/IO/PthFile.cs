namespace AptLab.Torch.IO;

/// <summary>
/// Reads a PyTorch <c>torch.save</c> file (<c>.pth</c>, <c>.pt</c>, <c>.bin</c>, <c>.ckpt</c>): the zip archive of PyTorch
/// >= 1.6, or the older pickle stream (<see cref="LegacyPth"/>; many published checkpoints predate 1.6), without executing
/// anything: the pickle goes through the whitelist <see cref="TorchPickle"/>, storages are read from the memory-mapped
/// archive (each shared storage once), and tensors are rebuilt as views with their saved sizes, strides and storage
/// offsets, as <c>torch.load</c> returns them. All or nothing: every storage entry, size and view bound is checked
/// before any tensor is created, and the CRC-32 of every entry read is verified. Hostile graphs cannot crash the
/// process: cycles are walked once and nesting deeper than <see cref="MaxNesting"/> is refused. Errors are
/// <see cref="InvalidDataException"/> naming the file.
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
        if (IsLegacy(map)) return LegacyPth.Load(map, full);                  // no keep filter: legacy files are small
        var (root, prefix, byName) = ReadPickle(map, full);
        if (keep is not null) DropTensors(root, keep, full);
        return Materialize(root, full, s =>
        {
            var entryName = prefix + "data/" + s.Key;
            if (!byName.TryGetValue(entryName, out var e))
                throw new InvalidDataException($"{full}: storage entry '{entryName}' is missing from the archive");
            if (e.Method != 0)
                throw new InvalidDataException($"{full}: storage entry '{entryName}' is compressed (method {e.Method}); torch.save writes stored entries");
            return new StorageRange(e.DataOffset, e.Size, $"storage entry '{entryName}'", e);
        }, map);
    }

    /// <summary>Where a storage's bytes lie in the file; <c>Entry</c> (a zip entry) has its CRC-32 checked when read.</summary>
    internal readonly record struct StorageRange(long Offset, long Size, string What, ZipEntry? Entry = null);

    /// <summary>
    /// Builds the tensors of an unpickled object graph. <paramref name="locate"/> gives each storage's byte range in
    /// <paramref name="map"/> (and a name for errors). All or nothing: every storage size and view bound is checked
    /// before any tensor is created.
    /// </summary>
    internal static unsafe object? Materialize(object? root, string full, Func<TorchStorageRef, StorageRange> locate, MappedFile map)
    {
        // Validate every tensor against its storage entry before materialising anything.
        var tensors = new List<PickledTensor>();
        Collect(root, tensors, full);
        var storages = new Dictionary<string, (TorchStorageRef s, StorageRange r)>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            var s = t.Storage;
            if (!storages.ContainsKey(s.Key))
            {
                var r = locate(s);
                long need = checked(s.Numel * s.Dtype.ElementSize());
                if (r.Size != need)
                    throw new InvalidDataException($"{full}: {r.What} has {r.Size} bytes but {s.Numel} x {s.Dtype.TorchName()} needs {need}");
                if (r.Offset < 0 || r.Offset > map.Length - r.Size)
                    throw new InvalidDataException($"{full}: {r.What} lies beyond the end of the file (truncated?)");
                storages[s.Key] = (s, r);
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
            foreach (var (key, (s, r)) in storages)
            {
                if (r.Entry is { } e) ZipDirectory.VerifyCrc(map, e);        // while its pages are read anyway
                storageTensors[key] = RawTensor.Copy(map.At(r.Offset, r.Size), r.Size, s.Dtype, [s.Numel]);
            }
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
            return Replace(root, made);
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
        foreach (var d in Containers(root, full).OfType<OrderedDictionary<object, object?>>())
            foreach (var (k, v) in d)
                if (k is string s && v is PickledTensor t) shapes[s] = t.Size;
        return shapes;
    }

    /// <summary>The archive's pickle (tensors as placeholders), its folder prefix and its entries by name; the CRC-32
    /// of the entries read is verified.</summary>
    private static (object? root, string prefix, Dictionary<string, ZipEntry> byName) ReadPickle(MappedFile map, string full)
    {
        CheckMagic(map);
        var entries = ZipDirectory.Read(map);
        var pkl = FindPickle(entries, full);
        var prefix = pkl.Name[..^"data.pkl".Length];
        var byName = entries.GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        if (byName.TryGetValue(prefix + "byteorder", out var bo) && bo.Method == 0)
        {
            ZipDirectory.VerifyCrc(map, bo);
            var order = System.Text.Encoding.ASCII.GetString(map.Span(bo.DataOffset, (int)Math.Min(bo.Size, 16)));
            if (order.Trim() != "little") throw new InvalidDataException($"{full}: byte order '{order.Trim()}' is not supported");
        }
        ZipDirectory.VerifyCrc(map, pkl);
        return (TorchPickle.Load(map.Span(pkl.DataOffset, checked((int)pkl.Size)), $"{full} ({pkl.Name})"), prefix, byName);
    }

    // Drops the tensor entries of every dict whose string key keep() refuses.
    private static void DropTensors(object? root, Func<string, bool> keep, string file)
    {
        foreach (var d in Containers(root, file).OfType<OrderedDictionary<object, object?>>().ToList())
            foreach (var k in d.Where(kv => kv.Key is string s && kv.Value is PickledTensor && !keep(s)).Select(kv => kv.Key).ToList())
                d.Remove(k);
    }

    // Every container of the graph once (cycles and shared subtrees included), iteratively, nesting bounded.
    private static List<object> Containers(object? root, string file)
    {
        var found = new List<object>();
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(object? o, int depth)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (o, depth) = stack.Pop();
            if (o is null || o is string || o is PickledTensor || !seen.Add(o)) continue;
            var children = Children(o);
            if (children.Count == 0 && o is not OrderedDictionary<object, object?>) continue;
            found.Add(o);
            if (depth >= MaxNesting)
                throw new InvalidDataException($"{file}: the pickle nests containers deeper than {MaxNesting} levels (torch.save never writes that; a corrupt or hostile file?)");
            for (int i = children.Count - 1; i >= 0; i--) stack.Push((children[i], depth + 1));
        }
        return found;
    }

    private static bool IsLegacy(MappedFile map) => map.Length >= 2 && map.Span(0, 1)[0] == 0x80;

    private static void CheckMagic(MappedFile map)
    {
        if (map.Length >= 4 && map.Span(0, 4).SequenceEqual("PK\x03\x04"u8)) return;
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

    /// <summary>Containers nested deeper than this are refused: torch.save (a recursive pickler under Python's
    /// recursion limit of 1000) never writes them, and walking them could exhaust the stack.</summary>
    public const int MaxNesting = 1000;

    // Every tensor placeholder of the graph, depth first (keys before values), each container once (a cyclic or shared
    // graph is walked once). Iterative, so no file can exhaust the stack.
    internal static void Collect(object? root, List<PickledTensor> into, string file)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(object? o, int depth)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (o, depth) = stack.Pop();
            if (o is null || o is string || !seen.Add(o)) continue;
            if (o is PickledTensor t) { into.Add(t); continue; }
            var children = Children(o);
            if (children.Count == 0) continue;
            if (depth >= MaxNesting)
                throw new InvalidDataException($"{file}: the pickle nests containers deeper than {MaxNesting} levels (torch.save never writes that; a corrupt or hostile file?)");
            for (int i = children.Count - 1; i >= 0; i--) stack.Push((children[i], depth + 1));
        }
    }

    // The values a container holds, in pickle order (a dict: key, value, key, value, ...).
    private static List<object?> Children(object o) => o switch
    {
        OrderedDictionary<object, object?> d => d.SelectMany(kv => new[] { kv.Key, kv.Value }).ToList(),
        List<object?> l => l,
        object?[] a => [.. a],
        HashSet<object?> s => [.. s],
        _ => [],
    };

    /// <summary>Rebuilds the graph with tensors in place of placeholders; shared (and cyclic) containers stay shared.
    /// Iterative: each container's copy is created when first met and filled from a work list.</summary>
    private static object? Replace(object? root, Dictionary<PickledTensor, Tensor> made)
    {
        var done = new Dictionary<object, object>(ReferenceEqualityComparer.Instance);
        var work = new Stack<object>();
        object? Map(object? o)
        {
            if (o is null || o is string) return o;
            if (o is PickledTensor t) return made[t];
            if (done.TryGetValue(o, out var r)) return r;
            object? copy = o switch
            {
                OrderedDictionary<object, object?> => new OrderedDictionary<object, object?>(),
                List<object?> l => new List<object?>(l.Count),
                object?[] a => new object?[a.Length],
                HashSet<object?> => new HashSet<object?>(),
                _ => null,
            };
            if (copy is null) return o;                                     // numbers, bytes, storages: as they are
            done[o] = copy;
            work.Push(o);
            return copy;
        }
        var result = Map(root);
        while (work.Count > 0)
        {
            var o = work.Pop();
            switch (o, done[o])
            {
                case (OrderedDictionary<object, object?> d, OrderedDictionary<object, object?> nd):
                    foreach (var (k, v) in d) nd[Map(k)!] = Map(v);
                    break;
                case (List<object?> l, List<object?> nl):
                    foreach (var v in l) nl.Add(Map(v));
                    break;
                case (object?[] a, object?[] na):
                    for (int i = 0; i < a.Length; i++) na[i] = Map(a[i]);
                    break;
                case (HashSet<object?> s, HashSet<object?> ns):
                    foreach (var v in s) ns.Add(Map(v));
                    break;
            }
        }
        return result;
    }
}
