using System.Globalization;
using System.Text.RegularExpressions;
using AptLab.Torch.IO;

namespace AptLab.Training;

/// <summary>
/// The sharded form of a training checkpoint under fully sharded data parallel:
/// <c>checkpoints/&lt;prefix&gt;-step-000123.shards/rank00001-of-00004.safetensors</c>, one file per rank, each written
/// atomically by its rank (its flat shards, the flat layout and the world size in the metadata), beside the
/// consolidated <c>&lt;prefix&gt;-step-000123.safetensors</c> that rank 0 writes under the official key names
/// (<see cref="Checkpoints"/>). Either resumes a run at any world size. A shards folder counts only when every rank's
/// file is there.
/// </summary>
public static partial class ShardedCheckpoint
{
    public static string DirFor(string dir, string prefix, int step) =>
        Path.Combine(dir, $"{prefix}-step-{step.ToString("D6", CultureInfo.InvariantCulture)}.shards");

    public static string RankFile(string shardDir, int rank, int world) =>
        Path.Combine(shardDir, $"rank{rank.ToString("D5", CultureInfo.InvariantCulture)}-of-{world.ToString("D5", CultureInfo.InvariantCulture)}.safetensors");

    [GeneratedRegex(@"^rank(\d{5})-of-(\d{5})\.safetensors$")]
    private static partial Regex RankFileName();

    /// <summary>Writes this rank's file (atomically; the folder is created).</summary>
    public static void SaveRank(string shardDir, int rank, int world, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        Directory.CreateDirectory(shardDir);
        var meta = new Dictionary<string, string>(metadata)
        {
            ["rank"] = rank.ToString(CultureInfo.InvariantCulture), ["world_size"] = world.ToString(CultureInfo.InvariantCulture),
        };
        Safetensors.Save(RankFile(shardDir, rank, world), tensors, meta);
    }

    /// <summary>The world size of a complete shards folder, or null (missing files, mixed world sizes).</summary>
    public static int? CompleteWorldSize(string shardDir)
    {
        if (!Directory.Exists(shardDir)) return null;
        var found = Directory.EnumerateFiles(shardDir, "rank*-of-*.safetensors")
            .Select(p => RankFileName().Match(Path.GetFileName(p))).Where(m => m.Success)
            .Select(m => (rank: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), world: int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))
            .ToList();
        if (found.Count == 0 || found.Select(f => f.world).Distinct().Count() != 1) return null;
        int world = found[0].world;
        return found.Select(f => f.rank).Distinct().Count() == world && found.All(f => f.rank < world) ? world : null;
    }

    /// <summary>Opens every rank's file of a complete shards folder (memory-mapped; rank order).</summary>
    public static StateDict[] Open(string shardDir)
    {
        int world = CompleteWorldSize(shardDir)
            ?? throw new InvalidDataException($"{shardDir}: not a complete sharded checkpoint (rankNNNNN-of-WWWWW.safetensors for every rank)");
        var files = new StateDict[world];
        try
        {
            for (int r = 0; r < world; r++) files[r] = Safetensors.Load(RankFile(shardDir, r, world));
        }
        catch
        {
            foreach (var f in files) f?.Dispose();
            throw;
        }
        return files;
    }

    /// <summary>The newest step of <paramref name="prefix"/> in <paramref name="dir"/> with a consolidated file or a
    /// complete shards folder: (path, is the shards folder), or null. A consolidated file wins at equal step.</summary>
    public static (string path, bool sharded, int step)? Latest(string dir, string prefix)
    {
        if (!Directory.Exists(dir)) return null;
        var candidates = new List<(string path, bool sharded, int step)>();
        var stepOf = new Regex("^" + Regex.Escape(prefix) + @"-step-(\d+)\.(safetensors|shards)$");
        foreach (var p in Directory.EnumerateFileSystemEntries(dir))
        {
            var m = stepOf.Match(Path.GetFileName(p));
            if (!m.Success) continue;
            bool sharded = m.Groups[2].Value == "shards";
            if (sharded && CompleteWorldSize(p) is null) continue;
            candidates.Add((p, sharded, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)));
        }
        if (candidates.Count == 0) return null;
        return candidates.OrderBy(c => c.step).ThenBy(c => c.sharded ? 0 : 1).Last();
    }
}
