using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AptLab.Data;

/// <summary>
/// Teacher ODE targets of consistency distillation on disk (docs/consistency-distillation.md#one-training-step: "teacher ODE targets can be cached to disk
/// for reuse"): the teacher's guided Euler step x^_n [C, F, H, W] for a deterministic (sample index, noise seed,
/// step index) triple, stored as one <see cref="LatentCache"/> sample ("target") whose id is the triple. The
/// folder's <c>targets.json</c> holds a fingerprint of everything a target depends on (teacher weights, data,
/// discretisation, guidance, negative prompt, seed); opening the folder with another fingerprint is an error, so a
/// stale cache is never read.
/// </summary>
public sealed class TeacherTargetCache
{
    private readonly LatentCache cache;
    private readonly Dictionary<string, int> index = new(StringComparer.Ordinal);

    public string Root => cache.Root;
    public string Fingerprint { get; }
    /// <summary>Targets found / computed since opening.</summary>
    public int Hits { get; private set; }
    public int Misses { get; private set; }
    /// <summary>A read-only cache (non-main ranks) looks targets up but does not store new ones.</summary>
    public bool ReadOnly { get; }
    public int Count => cache.Count;

    private TeacherTargetCache(LatentCache cache, string fingerprint, bool readOnly)
    {
        (this.cache, Fingerprint, ReadOnly) = (cache, fingerprint, readOnly);
        for (int i = 0; i < cache.Count; i++) index[cache.Entries[i].Id] = i;
    }

    public static TeacherTargetCache Open(string root, string fingerprint, bool readOnly = false)
    {
        var meta = Path.Combine(root, "targets.json");
        if (File.Exists(meta))
        {
            string? stored;
            try { stored = JsonDocument.Parse(File.ReadAllText(meta)).RootElement.GetProperty("fingerprint").GetString(); }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            { throw new InvalidDataException($"{meta}: not a teacher-target cache description ({e.Message})"); }
            if (stored != fingerprint)
                throw new InvalidDataException($"teacher-target cache {Path.GetFullPath(root)} was made for other inputs (fingerprint {stored}, " +
                                               $"this run {fingerprint}: teacher, data, discretisation, guidance, negative prompt or seed differ); use another folder");
        }
        else if (!readOnly)
        {
            Directory.CreateDirectory(root);
            Training.RunDirectory.WriteAtomic(meta, JsonSerializer.Serialize(new { fingerprint }));
        }
        return new TeacherTargetCache(LatentCache.Open(root), fingerprint, readOnly);
    }

    /// <summary>The id of a target: data set, sample index, noise seed, step index n (the target is x^_n).</summary>
    public static string Key(string set, long sample, long noiseSeed, long step) => $"{set}-{sample}-s{noiseSeed}-n{step}";

    /// <summary>The stored target [C, F, H, W] (caller disposes), or null.</summary>
    public Tensor? TryGet(string key)
    {
        if (!index.TryGetValue(key, out int i)) return null;
        using var s = cache.Load(i);
        Hits++;
        return s["target"].clone();
    }

    /// <summary>Stores a freshly computed target [C, F, H, W] (counted as a miss).</summary>
    public void Put(string key, Tensor target)
    {
        Misses++;
        if (ReadOnly || index.ContainsKey(key)) return;
        using var scope = torch.NewScope();
        cache.Add(key, "", new Dictionary<string, Tensor> { ["target"] = target.detach().to(Device.CPU).contiguous() });
        index[key] = cache.Count - 1;
    }

    /// <summary>A SHA-256 fingerprint of named tensors (shape, dtype, float64 sum and sum of squares) and settings.</summary>
    public static string FingerprintOf(IEnumerable<(string Name, Tensor Value)> tensors, params string[] settings)
    {
        var sb = new StringBuilder();
        using (var scope = torch.NewScope())
        using (torch.no_grad())
            foreach (var (name, t) in tensors)
            {
                var d = t.detach().to(ScalarType.Float64);
                sb.Append(name).Append('[').Append(string.Join(",", t.shape)).Append(']').Append(t.dtype).Append(':')
                  .Append(d.sum().item<double>().ToString("R", CultureInfo.InvariantCulture)).Append(',')
                  .Append(d.square().sum().item<double>().ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            }
        foreach (var s in settings) sb.Append(s).Append('\n');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..32].ToLowerInvariant();
    }
}
