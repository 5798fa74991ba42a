namespace AptLab.Torch.IO;

/// <summary>
/// The safetensors format (Hugging Face): <c>Load</c> / <c>Save</c> for single files, <c>LoadSharded</c> /
/// <c>SaveSharded</c> for <c>*.safetensors.index.json</c> checkpoints, <c>Open</c> for lazy access.
/// Reading validates every upstream rule (errors are <see cref="InvalidDataException"/> naming the file and tensor);
/// writing is atomic.
/// </summary>
public static class Safetensors
{
    /// <summary>Opens a file lazily: header validated, data memory-mapped, tensors read on demand.</summary>
    public static SafetensorsFile Open(string path) => SafetensorsFile.Open(path);

    /// <summary>Loads every tensor of a single file, in header order.</summary>
    public static StateDict Load(string path)
    {
        using var f = SafetensorsFile.Open(path);
        return f.LoadAll();
    }

    /// <summary>Opens a sharded checkpoint lazily from its index.</summary>
    public static ShardedSafetensors OpenSharded(string indexPath) => ShardedSafetensors.Open(indexPath);

    /// <summary>Loads every tensor of a sharded checkpoint.</summary>
    public static StateDict LoadSharded(string indexPath)
    {
        using var f = ShardedSafetensors.Open(indexPath);
        return f.LoadAll();
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> atomically. Any failure (a full disk
    /// included) is one <see cref="IOException"/> naming the file; an earlier file at the path is left intact and no
    /// temporary file remains. <paramref name="filter"/>: see <see cref="AtomicFile"/>.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null,
        Func<Stream, Stream>? filter = null) =>
        SafetensorsWriter.Save(path, tensors, metadata, filter);

    /// <summary>Writes a sharded checkpoint (Hugging Face layout); returns the path to load it from. All files are
    /// staged and renamed only when every one is complete.</summary>
    public static string SaveSharded(string directory, string baseName, IReadOnlyDictionary<string, Tensor> tensors,
        long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null, Func<Stream, Stream>? filter = null) =>
        SafetensorsWriter.SaveSharded(directory, baseName, tensors.ToList(), maxShardBytes, metadata, filter);
}
