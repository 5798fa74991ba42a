namespace AptLab.Torch.IO;

/// <summary>
/// An open safetensors file: the validated header (names, dtypes, shapes, <c>__metadata__</c>) and a read-only
/// memory map of the data. Tensors are materialised one at a time by copying from the map, so a multi-GB shard
/// never needs a managed buffer of its size. The file is fully validated on open (see <see cref="SafetensorsHeader"/>).
/// </summary>
public sealed class SafetensorsFile : ITensorSource
{
    private readonly MappedFile file;
    private readonly Dictionary<string, SafetensorsTensorInfo> byName;
    private readonly long dataStart;

    public string Path => file.Path;
    string ITensorSource.Source => Path;
    /// <summary>Tensor entries in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }
    /// <summary>The header's <c>__metadata__</c> (empty if absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IEnumerable<string> Names => Tensors.Select(t => t.Name);
    public int Count => Tensors.Count;

    private SafetensorsFile(MappedFile file, SafetensorsHeader.Parsed header)
    {
        this.file = file;
        Tensors = header.Tensors;
        Metadata = header.Metadata;
        dataStart = header.DataStart;
        byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Opens and validates <paramref name="path"/>; reads only the header.</summary>
    public static SafetensorsFile Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"safetensors file not found: {full}", full);
        var map = new MappedFile(full);
        try { return new SafetensorsFile(map, SafetensorsHeader.Read(map)); }
        catch { map.Dispose(); throw; }
    }

    public bool Contains(string name) => byName.ContainsKey(name);

    public SafetensorsTensorInfo Info(string name) => byName.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"safetensors file {Path}: no tensor '{name}'");

    /// <summary>Copies one tensor out of the file (a new CPU tensor owned by the current dispose scope, if any).</summary>
    public unsafe Tensor Load(string name)
    {
        var info = Info(name);
        if (info.ScalarType is not ScalarType type)
            throw new NotSupportedException($"safetensors file {Path}: tensor '{name}' has dtype {info.Dtype}, which AptLab cannot load (supported: {string.Join(" ", SafetensorsDtype.SupportedNames)})");
        return RawTensor.Copy(file.At(dataStart + info.Begin, info.NumBytes), info.NumBytes, type, info.Shape);
    }

    /// <summary>Loads every tensor (or those <paramref name="filter"/> accepts), in header order. All or nothing:
    /// an unsupported dtype is reported before any tensor is created, and on failure nothing is left allocated.</summary>
    public StateDict LoadAll(Func<string, bool>? filter = null)
    {
        var wanted = Tensors.Where(t => filter is null || filter(t.Name)).ToList();
        var bad = wanted.FirstOrDefault(t => t.ScalarType is null);
        if (bad is not null) Load(bad.Name);      // throws the NotSupportedException naming it
        var result = new StateDict { Source = Path, Metadata = Metadata };
        using var scope = torch.NewScope();
        foreach (var t in wanted) result.Add(t.Name, Load(t.Name));
        foreach (var t in result.Values) scope.Keep(t);
        return result;
    }

    public void Dispose() => file.Dispose();
}
