using System.Globalization;

namespace AptLab.Torch.optim;

// State dicts in the layout of torch.optim's {"state": {idx: {...}}, "param_groups": [{...}]}, flattened to keys:
//   state.<idx>.<name>          per-parameter tensors (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer,
//                               square_avg, grad_avg) and state.<idx>.step (float32 scalar, as PyTorch's Adam)
//   param_groups.<g>.<option>   hyper-parameters as float64 scalars (lr, weight_decay, beta1, ...)
//   param_groups.<g>.params     the group's parameter indices (int64 [n])
// Parameters are numbered in group order, as PyTorch does, so the numbering survives a rebuild of the model.
public abstract partial class Optimizer
{
    /// <summary>
    /// The optimizer's state as flat keys (see the file header). Every tensor is a new handle owned by the caller
    /// (by its open scope, if any); per-parameter tensors share storage with the optimizer's state (no copy).
    /// </summary>
    public Dictionary<string, Tensor> state_dict()
    {
        var d = new Dictionary<string, Tensor>();
        int index = 0;
        for (int g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            var indices = new long[group.@params.Count];
            foreach (var (k, v) in group.options) d[$"param_groups.{g}.{k}"] = torch.tensor(v, ScalarType.Float64);
            for (int i = 0; i < group.@params.Count; i++, index++)
            {
                indices[i] = index;
                if (!state.TryGetValue(group.@params[i], out var st)) continue;
                if (CountsSteps) d[$"state.{index}.step"] = torch.tensor(st.step, ScalarType.Float32);
                foreach (var (name, t) in st.tensors) d[$"state.{index}.{name}"] = t.alias();
            }
            d[$"param_groups.{g}.params"] = torch.tensor(indices);
        }
        return d;
    }

    /// <summary>
    /// Restores a state dict written by <see cref="state_dict"/> (for an optimizer built over the same parameters
    /// in the same groups). Group hyper-parameters are restored too (PyTorch does the same; an LR scheduler then
    /// sets lr again). State tensors are copied to each parameter's device and dtype. Any mismatch (group or
    /// parameter counts, shapes, unknown keys) throws naming the key, and nothing is changed.
    /// </summary>
    public void load_state_dict(IReadOnlyDictionary<string, Tensor> stateDict, string? source = null)
    {
        string where = source is null ? $"{Name}.load_state_dict" : $"{Name}.load_state_dict ({source})";
        var flat = groups.SelectMany(g => g.@params).ToList();
        var groupOptions = new List<Dictionary<string, double>>();
        for (int g = 0; g < groups.Count; g++) groupOptions.Add(new Dictionary<string, double>());
        var loaded = new Dictionary<int, (long step, Dictionary<string, Tensor> tensors)>();
        using var scope = torch.NewScope();
        foreach (var (key, value) in stateDict)
        {
            var parts = key.Split('.');
            if (parts.Length == 3 && parts[0] == "param_groups" && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int g))
            {
                if (g >= groups.Count)
                    throw new InvalidDataException($"{where}: key '{key}' names parameter group {g}, but the optimizer has {groups.Count}");
                if (parts[2] == "params")
                {
                    var ids = value.to(ScalarType.Int64).data<long>();
                    if (ids.Length != groups[g].@params.Count)
                        throw new InvalidDataException($"{where}: '{key}' lists {ids.Length} parameters, but group {g} has {groups[g].@params.Count}");
                    continue;
                }
                if (!defaults.ContainsKey(parts[2]))
                    throw new InvalidDataException($"{where}: unknown hyper-parameter '{key}' for {Name} (known: {string.Join(", ", defaults.Keys)})");
                groupOptions[g][parts[2]] = value.item<double>();
            }
            else if (parts.Length == 3 && parts[0] == "state" && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int i))
            {
                if (i >= flat.Count)
                    throw new InvalidDataException($"{where}: key '{key}' names parameter {i}, but the optimizer has {flat.Count}");
                if (!loaded.TryGetValue(i, out var entry)) loaded[i] = entry = (0, new Dictionary<string, Tensor>());
                if (parts[2] == "step")
                {
                    loaded[i] = (checked((long)value.item<double>()), entry.tensors);
                    continue;
                }
                if (!StateNames.Contains(parts[2]))
                    throw new InvalidDataException($"{where}: unknown state '{key}' for {Name} (known: {string.Join(", ", StateNames)})");
                var p = flat[i];
                if (!value.shape.SequenceEqual(p.shape))
                    throw new InvalidDataException($"{where}: '{key}' has shape [{string.Join(", ", value.shape)}], but parameter {i} has [{string.Join(", ", p.shape)}]");
                entry.tensors[parts[2]] = value.to(p.device, p.dtype).clone();
            }
            else throw new InvalidDataException($"{where}: unexpected key '{key}'");
        }
        for (int g = 0; g < groups.Count; g++)
        {
            var missing = defaults.Keys.Where(k => !groupOptions[g].ContainsKey(k)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{where}: parameter group {g} lacks {string.Join(", ", missing.Select(k => $"'param_groups.{g}.{k}'"))}");
        }

        // Everything checked: replace the state.
        foreach (var st in state.Values) st.Dispose();
        state.Clear();
        for (int g = 0; g < groups.Count; g++)
            foreach (var (k, v) in groupOptions[g]) groups[g].options[k] = v;
        foreach (var (i, (step, tensors)) in loaded)
        {
            var st = new ParamState { step = step };
            foreach (var (name, t) in tensors) st.Set(name, t);
            state[flat[i]] = st;
        }
    }
}
