namespace AptLab.Torch.IO;

/// <summary>
/// Reads a PyTorch <c>torch.save</c> file (<c>.pth</c>, <c>.pt</c>, <c>.bin</c>, <c>.ckpt</c>): the zip archive of PyTorch
/// >= 1.6, or the older pickle stream (<see cref="LegacyPth"/>; many published checkpoints predate 1.6), without executing
/// anything: the pickle goes through the whitelist <see cref="TorchPickle"/>, storages are read from the memory-mapped
/// archive (each shared storage once), and tensors are rebuilt as views with their saved sizes, strides and storage
/// offsets, as <c>torch.load</c> returns them. All or nothing: every storage entry, size and view bound is checked
/// before any tensor is created. Errors are <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class PthFile
{
    /// <summary>Loads the whole object graph: dicts as <c>OrderedDictionary&lt;object, object?&gt;</c>, lists, tuples
    /// (<c>object?[]</c>), numbers, strings, and tensors as <see cref="Tensor"/> (<see cref="Parameter"/> for
    /// nn.Parameter values). Tensors belong to the dispose scope open at the call, if any (parameters to none).</summary>
    public static object? Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"checkpoint not found: {full}", full);
        using var map = new MappedFile(full);
        if (map.Length >= 2 && map.Span(0, 1)[0] == 0x80) return LegacyPth.Load(map, full);
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

        var root = TorchPickle.Load(map.Span(pkl.DataOffset, checked((int)pkl.Size)), $"{full} ({pkl.Name})");
        return Materialize(root, full, s =>
        {
            var entryName = prefix + "data/" + s.Key;
            if (!byName.TryGetValue(entryName, out var e))
                throw new InvalidDataException($"{full}: storage entry '{entryName}' is missing from the archive");
            if (e.Method != 0)
                throw new InvalidDataException($"{full}: storage entry '{entryName}' is compressed (method {e.Method}); torch.save writes stored entries");
            return (e.DataOffset, e.Size, $"storage entry '{entryName}'");
        }, map);
    }

    /// <summary>
    /// Builds the tensors of an unpickled object graph. <paramref name="locate"/> gives each storage's byte range in
    /// <paramref name="map"/> (and a name for errors). All or nothing: every storage size and view bound is checked
    /// before any tensor is created.
    /// </summary>
    internal static unsafe object? Materialize(object? root, string full, Func<TorchStorageRef, (long offset, long size, string what)> locate, MappedFile map)
    {
        var tensors = new List<PickledTensor>();
        Collect(root, tensors, new HashSet<object>(ReferenceEqualityComparer.Instance));
        var storages = new Dictionary<string, (TorchStorageRef s, long offset, long size)>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            var s = t.Storage;
            if (!storages.ContainsKey(s.Key))
            {
                var (offset, size, what) = locate(s);
                long need = checked(s.Numel * s.Dtype.ElementSize());
                if (size != need)
                    throw new InvalidDataException($"{full}: {what} has {size} bytes but {s.Numel} x {s.Dtype.TorchName()} needs {need}");
                if (offset < 0 || offset > map.Length - size)
                    throw new InvalidDataException($"{full}: {what} lies beyond the end of the file (truncated?)");
                storages[s.Key] = (s, offset, size);
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
            foreach (var (key, (s, offset, size)) in storages)
                storageTensors[key] = RawTensor.Copy(map.At(offset, size), size, s.Dtype, [s.Numel]);
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
