using System.Text;
using System.Text.Json;

namespace AptLab.Torch.IO;

/// <summary>Writes safetensors files with upstream's writer rules: tensors ordered by descending dtype alignment,
/// then name; <c>__metadata__</c> first; JSON padded with spaces so the buffer starts 8-aligned; packed
/// little-endian row-major data. Files are written atomically (temporary file + rename).</summary>
internal static class SafetensorsWriter
{
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var entries = tensors.Select(kv => (name: kv.Key, tensor: kv.Value, dtype: SafetensorsDtype.FromScalarType(kv.Value.dtype)))
            .OrderByDescending(e => SafetensorsDtype.Alignment(e.dtype)).ThenBy(e => e.name, StringComparer.Ordinal).ToList();
        var dup = entries.GroupBy(e => e.name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"safetensors: duplicate tensor name '{dup.Key}'");
        if (entries.Any(e => e.name == "__metadata__")) throw new ArgumentException("safetensors: '__metadata__' cannot be a tensor name");

        var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t, dtype) in entries)
            {
                long nbytes = t.numel() * t.element_size();
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + nbytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += nbytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - header.Length % 8) % 8);
        header.Write(Encoding.ASCII.GetBytes(new string(' ', pad)));

        stream.Write(BitConverter.GetBytes((ulong)header.Length));
        header.Position = 0;
        header.CopyTo(stream);
        foreach (var (_, t, _) in entries) RawTensor.WriteTo(t, stream);
    }

    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata,
        Func<Stream, Stream>? filter = null)
    {
        try { AtomicFile.Write(path, s => Write(s, tensors, metadata), filter); }
        catch (Exception e)
        {
            throw new IOException($"writing safetensors file {Path.GetFullPath(path)} failed (any earlier file is intact): {e.Message}", e);
        }
    }

    /// <summary>Splits tensors in order into shards of at most <paramref name="maxShardBytes"/> (a bigger tensor gets a
    /// shard of its own), writes <c>{baseName}-0000i-of-0000n.safetensors</c> and the Hugging Face index
    /// <c>{baseName}.safetensors.index.json</c>. A single shard is written as <c>{baseName}.safetensors</c> with no
    /// index, as Hugging Face does. All files are staged and renamed only after every one is complete.
    /// Returns the path to load from (the index, or the single file).</summary>
    public static string SaveSharded(string directory, string baseName, IReadOnlyList<KeyValuePair<string, Tensor>> tensors,
        long maxShardBytes, IReadOnlyDictionary<string, string>? metadata, Func<Stream, Stream>? filter = null)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "max shard size must be positive");
        var shards = new List<List<KeyValuePair<string, Tensor>>>();
        long current = 0, total = 0;
        foreach (var kv in tensors)
        {
            long nbytes = kv.Value.numel() * kv.Value.element_size();
            if (shards.Count == 0 || (current + nbytes > maxShardBytes && shards[^1].Count > 0)) { shards.Add(new()); current = 0; }
            shards[^1].Add(kv);
            current += nbytes;
            total += nbytes;
        }
        if (shards.Count <= 1)
        {
            var single = Path.Combine(directory, baseName + ".safetensors");
            Save(single, tensors, metadata, filter);
            return Path.GetFullPath(single);
        }

        var staged = new List<AtomicFile>();
        try
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < shards.Count; i++)
            {
                var file = $"{baseName}-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                var f = new AtomicFile(Path.Combine(directory, file), filter);
                staged.Add(f);
                Write(f.Stream, shards[i], metadata);
                foreach (var kv in shards[i]) weightMap[kv.Key] = file;
            }
            var indexPath = Path.Combine(directory, baseName + ".safetensors.index.json");
            var index = new AtomicFile(indexPath, filter);
            staged.Add(index);
            using (var w = new Utf8JsonWriter(index.Stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteStartObject("metadata");
                w.WriteNumber("total_size", total);
                w.WriteEndObject();
                w.WriteStartObject("weight_map");
                foreach (var (k, v) in weightMap) w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            foreach (var f in staged) f.FlushToDisk(); // every file complete on disk (a full disk fails here) ...
            foreach (var f in staged) f.Commit();      // ... before any is renamed; the index last
            return Path.GetFullPath(indexPath);
        }
        catch (Exception e)
        {
            throw new IOException($"writing sharded safetensors {baseName} in {Path.GetFullPath(directory)} failed (earlier files are intact): {e.Message}", e);
        }
        finally
        {
            foreach (var f in staged) f.Dispose();
        }
    }
}
