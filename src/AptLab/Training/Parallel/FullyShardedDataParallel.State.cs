using System.Globalization;
using System.Text.Json.Nodes;
using AptLab.Torch.Distributed;
using AptLab.Torch.optim;

namespace AptLab.Training;

// Checkpoints of a sharded module. Two forms, both readable at any world size:
//  * consolidated: the official key names with whole tensors, as one process would write them (state_dict,
//    to_full, optimizer_state_dict; gathered on rank 0);
//  * sharded: each rank's flat shards under "<unit>._flat_param" names (sharded_state_dict), with the flat layout in
//    the metadata (layout_json); load_sharded reassembles any old world size's shards into this rank's slices.
public sealed partial class FullyShardedDataParallel
{
    private IEnumerable<FlatParameter> AllFlats => new[] { root }.Concat(blocks).SelectMany(u => u.Flats);

    public Dictionary<string, Tensor> state_dict(ScalarType? dtype = null)
    {
        var gathered = new Dictionary<string, Tensor>();
        foreach (var f in AllFlats)
            foreach (var (k, v) in f.FullFromShards(f.Shard, dtype)) gathered[k] = v;
        var d = new Dictionary<string, Tensor>();
        if (!group.IsMainProcess) return d;
        foreach (var (k, v) in module.state_dict())                                 // the official order; buffers as they are
            d[k] = gathered.TryGetValue(k, out var g) ? g : dtype is { } t && v.dtype.IsFloatingPoint() && v.dtype != t ? v.to(t) : v;
        return d;
    }

    public void load_state_dict(IReadOnlyDictionary<string, Tensor> state, string? source = null)
    {
        string where = source ?? "state dict";
        var own = module.state_dict().Keys.ToHashSet();
        var missing = own.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"Error(s) in loading state_dict for {module.GetType().Name} from {where}:" +
                (missing.Count > 0 ? $"\n  missing keys ({missing.Count}): {string.Join(", ", missing.Take(12))}" : "") +
                (unexpected.Count > 0 ? $"\n  unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected.Take(12))}" : ""));
        var shards = AllFlats.Select(f => (f, shard: f.ShardFromFull(state, f.StoreDtype, where))).ToList();   // all checked first
        using var _ = torch.no_grad();
        foreach (var (f, shard) in shards)
        {
            f.Free();
            f.Shard.copy_(shard);
            shard.Dispose();
        }
        var paramNames = module.named_parameters().Select(p => p.name).ToHashSet();
        foreach (var (k, b) in module.named_buffers(persistentOnly: true))
            if (!paramNames.Contains(k)) b.copy_(state[k]);
    }

    public void load_parameters(IReadOnlyDictionary<string, Tensor> full, string? source = null)
    {
        var local = from_full(full, source);                                       // every shard checked before any copy
        using var _ = torch.no_grad();
        foreach (var f in trainable)
        {
            f.Free();                                                              // a gathered copy would be stale
            f.Shard.copy_(local[f.Name]);
            local[f.Name].Dispose();
        }
    }

    public Dictionary<string, Tensor> to_full(IEnumerable<(string name, Tensor tensor)> local)
    {
        var byName = local.ToDictionary(t => t.name, t => t.tensor);
        var d = new Dictionary<string, Tensor>();
        foreach (var f in trainable)
        {
            if (!byName.TryGetValue(f.Name, out var t)) throw new ArgumentException($"FullyShardedDataParallel.to_full: no tensor for '{f.Name}'");
            foreach (var (k, v) in f.FullFromShards(t)) d[k] = v;
        }
        if (!group.IsMainProcess) return d;
        return trainableOrder.ToDictionary(x => x.member.Name, x => d[x.member.Name]);   // module order
    }

    public Dictionary<string, Tensor> from_full(IReadOnlyDictionary<string, Tensor> full, string? source = null) =>
        trainable.ToDictionary(f => f.Name, f => f.ShardFromFull(full, EMA.ShadowDtype(f.StoreDtype), source ?? "state dict"));

    // ---- optimizer state ----

    public Dictionary<string, Tensor> optimizer_state_dict(Optimizer optimizer)
    {
        if (optimizer.param_groups.Count != 1 || optimizer.param_groups[0].@params.Count != trainable.Length ||
            optimizer.param_groups[0].@params.Where((p, i) => !ReferenceEquals(p, trainable[i].Shard)).Any())
            throw new ArgumentException("FullyShardedDataParallel: the optimizer must have one parameter group over parameters(), in order");
        AgreeOnGradientMembers();
        var d = new Dictionary<string, Tensor>();
        var values = new Dictionary<(string state, string member), Tensor>();
        var steps = new Dictionary<string, long>();
        var stateNames = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var f in trainable)
            if (optimizer.StateOf(f.Shard) is { } st) foreach (var n in st.Tensors.Keys) stateNames.Add(n);
        // state exists alike on every rank (the same steps create it), so every rank takes part in the same gathers
        foreach (var f in trainable)
        {
            var st = optimizer.StateOf(f.Shard);
            if (st is null) continue;
            foreach (var n in stateNames)
                if (st.Has(n))
                    foreach (var (k, v) in f.FullFromShards(st[n])) values[(n, k)] = v;
            for (int j = 0; j < f.Members.Count; j++)
                if (f.HadGradient[j]) steps[f.Members[j].Name] = st.step;             // as a whole-model optimizer keeps it
        }
        if (!group.IsMainProcess) return d;
        var group0 = optimizer.param_groups[0];
        foreach (var (k, v) in group0.Options) d[$"param_groups.0.{k}"] = torch.tensor(v, ScalarType.Float64);
        d["param_groups.0.params"] = torch.tensor(Enumerable.Range(0, trainableOrder.Length).Select(i => (long)i).ToArray());
        for (int i = 0; i < trainableOrder.Length; i++)
        {
            var name = trainableOrder[i].member.Name;
            if (!steps.TryGetValue(name, out var step)) continue;
            d[$"state.{i}.step"] = torch.tensor(step, ScalarType.Float32);
            foreach (var n in stateNames)
                if (values.TryGetValue((n, name), out var t)) d[$"state.{i}.{n}"] = t;
        }
        return d;
    }

    // A member can get a gradient on one rank and none on another (OmniHuman: a condition present in one rank's rows
    // only, its module skipped on the others); a whole-model optimizer over the global batch saw that gradient, so the
    // consolidated state lists every member that had one on ANY rank (one all-reduce; every rank calls this).
    private void AgreeOnGradientMembers()
    {
        var flags = trainable.SelectMany(f => f.HadGradient).Select(b => b ? 1L : 0L).ToArray();
        if (flags.Length == 0 || group.world_size == 1) return;
        using var scope = torch.NewScope();
        var t = torch.tensor(flags, flags.Length);
        group.all_reduce(t, ReduceOp.Max);
        var any = t.data<long>();
        int i = 0;
        foreach (var f in trainable)
            for (int j = 0; j < f.HadGradient.Length; j++) f.HadGradient[j] = any[i++] != 0;
    }

    public void load_optimizer_state_dict(Optimizer optimizer, IReadOnlyDictionary<string, Tensor> state, string? source = null)
    {
        string where = source ?? "optimizer state";
        // whole-model indices -> member names
        var perMember = new Dictionary<string, Dictionary<string, Tensor>>();
        var stepOf = new Dictionary<string, long>();
        var composed = new Dictionary<string, Tensor>();
        foreach (var (key, value) in state)
        {
            var parts = key.Split('.');
            if (parts.Length == 3 && parts[0] == "param_groups")
            {
                if (parts[1] != "0") throw new InvalidDataException($"{where}: '{key}': FullyShardedDataParallel loads one parameter group");
                if (parts[2] != "params") composed[key] = value;
                continue;
            }
            if (parts.Length != 3 || parts[0] != "state" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                throw new InvalidDataException($"{where}: unexpected key '{key}'");
            if (i >= trainableOrder.Length)
                throw new InvalidDataException($"{where}: '{key}' names parameter {i}, but the model has {trainableOrder.Length} trainable ones");
            var name = trainableOrder[i].member.Name;
            if (parts[2] == "step") { stepOf[name] = checked((long)value.item<double>()); continue; }
            if (!perMember.TryGetValue(name, out var m)) perMember[name] = m = new Dictionary<string, Tensor>();
            m[parts[2]] = value;
        }
        composed["param_groups.0.params"] = torch.tensor(Enumerable.Range(0, trainable.Length).Select(i => (long)i).ToArray());
        for (int u = 0; u < trainable.Length; u++)
        {
            var f = trainable[u];
            var withState = f.Members.Where(m => stepOf.ContainsKey(m.Name)).ToList();
            for (int j = 0; j < f.Members.Count; j++) f.HadGradient[j] = stepOf.ContainsKey(f.Members[j].Name);
            if (withState.Count == 0) continue;
            composed[$"state.{u}.step"] = torch.tensor(withState.Max(m => stepOf[m.Name]), ScalarType.Float32);
            foreach (var n in withState.SelectMany(m => perMember.GetValueOrDefault(m.Name)?.Keys ?? Enumerable.Empty<string>()).Distinct())
            {
                var full = f.Members.Where(m => perMember.GetValueOrDefault(m.Name)?.ContainsKey(n) == true)
                    .ToDictionary(m => m.Name, m => perMember[m.Name][n]);
                foreach (var m in f.Members.Where(m => !full.ContainsKey(m.Name))) full[m.Name] = torch.zeros(m.Shape, f.StoreDtype);
                composed[$"state.{u}.{n}"] = f.ShardFromFull(full, f.StoreDtype, where);
            }
        }
        optimizer.load_state_dict(composed, where);
    }

    // ---- sharded checkpoints ----

    /// <summary>This rank's shards under "&lt;prefix&gt;&lt;unit&gt;._flat_param" names (the masters, or frozen
    /// weights in the compute dtype), for a sharded checkpoint.</summary>
    public IEnumerable<(string name, Tensor shard)> sharded_parameters() => AllFlats.Select(f => (f.Name, f.Shard));

    /// <summary>The flat layout of every unit (names, offsets, shapes, element counts): what a sharded checkpoint
    /// needs besides its shards to be read at another world size.</summary>
    public string layout_json() => new JsonArray(AllFlats.Select(f => (JsonNode)f.Describe()).ToArray()).ToJsonString();

    /// <summary>Which members of each trainable flat have had a gradient (see FlatParameter.HadGradient), for a sharded
    /// checkpoint: "name:0110..." per flat, joined by ';'.</summary>
    public string gradient_members() => string.Join(';', trainable.Select(f => f.Name + ":" + string.Concat(f.HadGradient.Select(b => b ? '1' : '0'))));

    /// <summary>Restores <see cref="gradient_members"/>.</summary>
    public void load_gradient_members(string value, string source)
    {
        var byName = trainable.ToDictionary(f => f.Name);
        foreach (var part in value.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon < 0 || !byName.TryGetValue(part[..colon], out var f) || part.Length - colon - 1 != f.Members.Count)
                throw new InvalidDataException($"{source}: malformed gradient members entry '{part}'");
            for (int j = 0; j < f.Members.Count; j++) f.HadGradient[j] = part[colon + 1 + j] == '1';
        }
    }

    /// <summary>Checks that <paramref name="layout"/> (from a sharded checkpoint) describes this module's flats.</summary>
    public void check_layout(string layout, string source)
    {
        var mine = layout_json();
        if (JsonNode.Parse(layout)?.ToJsonString() != mine)
            throw new InvalidDataException($"{source}: the sharded checkpoint's flat layout differs from this model's " +
                                           "(another architecture, units or trainable set); load its consolidated file instead");
    }

    /// <summary>This rank's slice of each flat named in <paramref name="names"/> (flat name -> key in the old ranks'
    /// files), from the files of a sharded checkpoint written by any number of ranks (in rank order).</summary>
    public Tensor reshard(string flatName, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> oldRanks, string key, string source)
    {
        var f = AllFlats.FirstOrDefault(x => x.Name == flatName) ?? throw new ArgumentException($"no flat parameter '{flatName}'");
        var old = oldRanks.Select((r, i) => r.TryGetValue(key, out var t) ? t
            : throw new InvalidDataException($"{source}: rank {i}'s shard file has no '{key}'")).ToList();
        return f.Reshard(old, source);
    }

    /// <summary>Loads this rank's masters (and frozen shards) from a sharded checkpoint of any world size whose keys
    /// are <paramref name="prefix"/> + flat name.</summary>
    public void load_sharded(IReadOnlyList<IReadOnlyDictionary<string, Tensor>> oldRanks, string prefix, string source)
    {
        var shards = AllFlats.Select(f => (f, t: reshard(f.Name, oldRanks, prefix + f.Name, source))).ToList();
        using var _ = torch.no_grad();
        foreach (var (f, t) in shards)
        {
            f.Free();
            f.Shard.copy_(t);
            t.Dispose();
        }
    }

    /// <summary>This rank's optimizer state as <paramref name="optimizer"/>.state_dict() has it (indices = the flats
    /// of <see cref="parameters"/>): the sharded checkpoint's form.</summary>
    public void load_sharded_optimizer(Optimizer optimizer, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> oldRanks, string prefix, string source)
    {
        var first = oldRanks[0];
        var composed = new Dictionary<string, Tensor>();
        foreach (var (key, value) in first)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var k = key[prefix.Length..];
            var parts = k.Split('.');
            if (parts.Length == 3 && parts[0] == "state" && parts[2] != "step" && int.TryParse(parts[1], out int u) && u < trainable.Length)
                composed[k] = reshard(trainable[u].Name, oldRanks, key, source);
            else composed[k] = value;
        }
        optimizer.load_state_dict(composed, source);
    }
}
