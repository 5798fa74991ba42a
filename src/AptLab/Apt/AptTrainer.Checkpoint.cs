using System.Globalization;
using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Apt;

// Checkpoints of a phase: the consolidated form (StateDict: official names, any mode and world size) and, under
// FSDP, the sharded form (each rank's flat shards, written by that rank), resumable at another world size.
public sealed partial class AptTrainer
{
    private const string LayoutG = "layout_generator", LayoutD = "layout_discriminator";

    /// <summary>This rank's part of the state under FSDP: G's and D's flat shards, the EMA's, both optimizers' states
    /// over the shards, with the flat layouts in the metadata.</summary>
    public (Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata) ShardedStateDict()
    {
        if (G is not FullyShardedDataParallel g || D is not FullyShardedDataParallel d)
            throw new InvalidOperationException("AptTrainer.ShardedStateDict: the trainer is not fully sharded (parallel: fsdp)");
        var t = new Dictionary<string, Tensor>();
        foreach (var (k, v) in g.sharded_parameters()) t["generator." + k] = v;
        foreach (var (k, v) in d.sharded_parameters()) t["discriminator." + k] = v;
        foreach (var (k, v) in Ema.named_shadows()) t["ema." + k] = v;
        foreach (var (k, v) in OptG.state_dict()) t["opt_g." + k] = v;
        foreach (var (k, v) in OptD.state_dict()) t["opt_d." + k] = v;
        var meta = new Dictionary<string, string>
        {
            ["step"] = Step.ToString(CultureInfo.InvariantCulture), [LayoutG] = g.layout_json(), [LayoutD] = d.layout_json(),
            ["precision"] = g.precision.ToConfigString(), ["grad_members_generator"] = g.gradient_members(),
            ["grad_members_discriminator"] = d.gradient_members(),
        };
        return (t, meta);
    }

    /// <summary>Restores a sharded checkpoint written by any number of ranks (<paramref name="ranks"/>: their files, in
    /// rank order) into this trainer's shards.</summary>
    public void LoadShardedStateDict(IReadOnlyList<StateDict> ranks, string source)
    {
        if (G is not FullyShardedDataParallel g || D is not FullyShardedDataParallel d)
            throw new InvalidOperationException($"{source} is a sharded checkpoint: resume it with parallel: fsdp, or resume from its consolidated file");
        var meta = ranks[0].Metadata;
        if (!meta.TryGetValue(LayoutG, out var lg) || !meta.TryGetValue(LayoutD, out var ld) || !meta.TryGetValue("step", out var stepText))
            throw new InvalidDataException($"{source}: not an APT sharded checkpoint (no flat layouts or step in its metadata)");
        g.check_layout(lg, source + " (generator)");
        d.check_layout(ld, source + " (discriminator)");
        g.load_sharded(ranks, "generator.", source);
        d.load_sharded(ranks, "discriminator.", source);
        var shadows = Ema.named_shadows().ToDictionary(s => s.name, s => g.reshard(s.name, ranks, "ema." + s.name, source));
        Ema.load_state_dict(shadows, num_updates: int.Parse(stepText, CultureInfo.InvariantCulture), source: source);
        foreach (var t in shadows.Values) t.Dispose();
        g.load_sharded_optimizer(OptG, ranks, "opt_g.", source);
        d.load_sharded_optimizer(OptD, ranks, "opt_d.", source);
        if (meta.TryGetValue("grad_members_generator", out var gm)) g.load_gradient_members(gm, source);
        if (meta.TryGetValue("grad_members_discriminator", out var dm)) d.load_gradient_members(dm, source);
        Step = int.Parse(stepText, CultureInfo.InvariantCulture);
    }

    /// <summary>Writes the checkpoint of the current step into <paramref name="dir"/>: under FSDP every rank writes its
    /// shard file (<see cref="ShardedCheckpoint"/>), then rank 0 the consolidated file; otherwise rank 0 the
    /// consolidated file. Every rank must call it; all return once both forms are complete. Returns the consolidated
    /// path.</summary>
    public string SaveCheckpoint(string dir, string prefix, IReadOnlyDictionary<string, string>? metadata = null)
    {
        int rank = group?.rank ?? 0;
        if (Parallel == ParallelMode.Fsdp)
        {
            var (tensors, meta) = ShardedStateDict();
            foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta.TryAdd(k, v);
            ShardedCheckpoint.SaveRank(ShardedCheckpoint.DirFor(dir, prefix, Step), rank, WorldSize, tensors, meta);
            group?.barrier();
        }
        using var scope = torch.NewScope();
        var full = StateDict();                                                // a collective under FSDP
        var path = Checkpoints.PathFor(dir, prefix, Step);
        DistributedRun.OnMainProcess(group, () =>
        {
            Directory.CreateDirectory(dir);
            var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
            {
                ["world_size"] = WorldSize.ToString(CultureInfo.InvariantCulture), ["parallel"] = Parallel.ToConfigString(),
            };
            Checkpoints.Save(dir, prefix, Step, full, meta);
        });
        return path;
    }

    /// <summary>Continues from the newest checkpoint of <paramref name="prefix"/> in <paramref name="dir"/> (rank 0's
    /// choice on every rank): its consolidated file, or its shards when only they are complete (FSDP). Returns what
    /// was loaded, or null.</summary>
    public string? ResumeLatest(string dir, string prefix)
    {
        var latest = ShardedCheckpoint.Latest(dir, prefix);
        string? path = latest?.path;
        if (group is not null) path = DistributedRun.BroadcastString(group, group.IsMainProcess ? path ?? "" : null) is { Length: > 0 } p ? p : null;
        if (path is null) return null;
        Resume(path);
        return path;
    }

    /// <summary>Loads a consolidated checkpoint file or a shards folder.</summary>
    public void Resume(string path)
    {
        if (Directory.Exists(path))
        {
            var ranks = ShardedCheckpoint.Open(path);
            try { LoadShardedStateDict(ranks, path); }
            finally { foreach (var r in ranks) r.Dispose(); }
            return;
        }
        using var state = Checkpoint.Load(path);
        LoadStateDict(state, int.Parse(state.Metadata["step"], CultureInfo.InvariantCulture), path);
    }
}
