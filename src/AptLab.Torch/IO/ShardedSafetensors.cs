using System.Text.Json;

namespace AptLab.Torch.IO;

/// <summary>
/// A sharded safetensors checkpoint: <c>{name}.safetensors.index.json</c> whose <c>weight_map</c> maps each tensor
/// name to a shard file in the same folder. Opening validates the index, opens (maps) and validates every shard
/// header and checks that each tensor is in its shard; data is read only by <see cref="Load"/> / <see cref="LoadAll"/>.
/// </summary>
public sealed class ShardedSafetensors : ITensorSource
{
    private readonly Dictionary<string, SafetensorsFile> shards;
    private readonly OrderedDictionary<string, string> weightMap;

    public string IndexPath { get; }
    string ITensorSource.Source => IndexPath;
    /// <summary>The index's <c>metadata</c> object, values as JSON text (e.g. total_size).</summary>
    public IReadOnlyDictionary<string, string> IndexMetadata { get; }
    public IEnumerable<string> Names => weightMap.Keys;
    public int Count => weightMap.Count;
    public IReadOnlyCollection<SafetensorsFile> Shards => shards.Values;

    private ShardedSafetensors(string indexPath, OrderedDictionary<string, string> weightMap,
        Dictionary<string, SafetensorsFile> shards, Dictionary<string, string> meta)
    {
        IndexPath = indexPath;
        this.weightMap = weightMap;
        this.shards = shards;
        IndexMetadata = meta;
    }

    public static ShardedSafetensors Open(string indexPath)
    {
        var full = Path.GetFullPath(indexPath);
        InvalidDataException Fail(string msg) => new($"safetensors index {full}: {msg}");
        if (!File.Exists(full)) throw new FileNotFoundException($"safetensors index not found: {full}", full);

        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(full)); }
        catch (JsonException e) { throw Fail($"not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm)
            || wm.ValueKind != JsonValueKind.Object)
            throw Fail("missing the 'weight_map' object");
        var meta = new Dictionary<string, string>();
        if (doc.RootElement.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object)
            foreach (var p in m.EnumerateObject())
                meta[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();

        var map = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in wm.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw Fail($"weight_map entry '{p.Name}' is not a file name");
            if (!map.TryAdd(p.Name, p.Value.GetString()!)) throw Fail($"duplicate weight_map key '{p.Name}'");
        }

        var dir = Path.GetDirectoryName(full)!;
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in map.Values.Distinct(StringComparer.Ordinal))
            {
                var shardPath = Path.Combine(dir, shard);
                if (Path.GetDirectoryName(Path.GetFullPath(shardPath)) != dir)
                    throw Fail($"shard '{shard}' is not a file beside the index");
                if (!File.Exists(shardPath)) throw Fail($"missing shard '{shard}' (expected at {shardPath})");
                files[shard] = SafetensorsFile.Open(shardPath);
            }
            foreach (var (name, shard) in map)
                if (!files[shard].Contains(name)) throw Fail($"tensor '{name}' is mapped to shard '{shard}', which does not contain it");
            return new ShardedSafetensors(full, map, files, meta);
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
    }

    /// <summary>The shard holding <paramref name="name"/>.</summary>
    public SafetensorsFile ShardOf(string name) => weightMap.TryGetValue(name, out var s) ? shards[s]
        : throw new KeyNotFoundException($"safetensors index {IndexPath}: no tensor '{name}'");

    public SafetensorsTensorInfo Info(string name) => ShardOf(name).Info(name);

    public Tensor Load(string name) => ShardOf(name).Load(name);

    /// <summary>Loads every tensor in weight_map order, all or nothing.</summary>
    public StateDict LoadAll(Func<string, bool>? filter = null)
    {
        var wanted = Names.Where(n => filter is null || filter(n)).ToList();
        var bad = wanted.FirstOrDefault(n => Info(n).ScalarType is null);
        if (bad is not null) Load(bad);
        var meta = shards.Values.FirstOrDefault()?.Metadata ?? new Dictionary<string, string>();
        var result = new StateDict { Source = IndexPath, Metadata = meta };
        using var scope = torch.NewScope();
        foreach (var n in wanted) result.Add(n, Load(n));
        foreach (var t in result.Values) scope.Keep(t);
        return result;
    }

    public void Dispose()
    {
        foreach (var f in shards.Values) f.Dispose();
    }
}
