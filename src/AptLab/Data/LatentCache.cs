using System.Text.Json;
using System.Text.Json.Serialization;
using AptLab.Torch.IO;

namespace AptLab.Data;

/// <summary>
/// Encoded training samples on disk, so that repeated epochs (and later experiments: fine-tuning, distillation,
/// APT) never re-run the VAE, the text encoder or wav2vec2. A cache is a folder:
/// <code>
/// index.jsonl                 one line per sample: {"id": "...", "caption": "...", "file": "samples/000000.safetensors"}
/// samples/000000.safetensors  the sample's tensors by name, e.g. "latents" [z, f, h, w] (VAE posterior mean,
///                             unnormalised), "ref_latents" [z, 1, h, w], "audio" [frames, 10752], "context" [L, dim]
/// </code>
/// Every file is written atomically and a sample's index line is appended only after its file is complete, so a
/// cache interrupted at any moment is valid and an encoder can continue it (<see cref="Contains"/>).
/// </summary>
public sealed class LatentCache
{
    public sealed record Entry(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("caption")] string Caption,
        [property: JsonPropertyName("file")] string File);

    public string Root { get; }
    private readonly List<Entry> entries = new();
    private readonly HashSet<string> ids = new(StringComparer.Ordinal);

    public IReadOnlyList<Entry> Entries => entries;
    public int Count => entries.Count;
    private string IndexPath => Path.Combine(Root, "index.jsonl");

    private LatentCache(string root) => Root = Path.GetFullPath(root);

    /// <summary>Opens the cache in <paramref name="root"/>, creating the folder if it does not exist.</summary>
    public static LatentCache Open(string root)
    {
        var cache = new LatentCache(root);
        Directory.CreateDirectory(Path.Combine(cache.Root, "samples"));
        if (!System.IO.File.Exists(cache.IndexPath)) return cache;
        int lineNo = 0;
        foreach (var line in System.IO.File.ReadLines(cache.IndexPath))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            Entry? e;
            try { e = JsonSerializer.Deserialize<Entry>(line); }
            catch (JsonException ex) { throw new InvalidDataException($"{cache.IndexPath}:{lineNo}: not a cache entry ({ex.Message})"); }
            if (e is null || string.IsNullOrEmpty(e.Id) || string.IsNullOrEmpty(e.File) || e.Caption is null)
                throw new InvalidDataException($"{cache.IndexPath}:{lineNo}: a cache entry needs \"id\", \"caption\" and \"file\"");
            if (!System.IO.File.Exists(Path.Combine(cache.Root, e.File)))
                throw new InvalidDataException($"{cache.IndexPath}:{lineNo}: sample file missing: {Path.Combine(cache.Root, e.File)}");
            if (cache.ids.Add(e.Id)) cache.entries.Add(e);
        }
        return cache;
    }

    public bool Contains(string id) => ids.Contains(id);

    /// <summary>Stores one sample's tensors (written atomically, then indexed). An id already cached is an error.</summary>
    public Entry Add(string id, string caption, IReadOnlyDictionary<string, Tensor> tensors)
    {
        if (!ids.Add(id)) throw new ArgumentException($"sample '{id}' is already in the cache {Root}");
        var file = $"samples/{entries.Count:D6}.safetensors";
        Safetensors.Save(Path.Combine(Root, file), tensors, new Dictionary<string, string> { ["id"] = id });
        var entry = new Entry(id, caption, file);
        using (var w = new StreamWriter(IndexPath, append: true))
            w.WriteLine(JsonSerializer.Serialize(entry));
        entries.Add(entry);
        return entry;
    }

    /// <summary>The tensors of sample <paramref name="index"/> (the caller disposes them).</summary>
    public StateDict Load(int index) => Safetensors.Load(Path.Combine(Root, entries[index].File));
}
