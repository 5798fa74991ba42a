using AptLab.Torch.IO;

namespace AptLab.Torch.nn;

/// <summary>
/// The LoRA adapters of a model (PEFT <c>inject_adapter_in_model</c>, docs/omniavatar.md#lora): which layers carry one,
/// merging/unmerging them, and saving/loading their weights under PEFT's key names
/// <c>&lt;layer&gt;.lora_A.default.weight</c> / <c>&lt;layer&gt;.lora_B.default.weight</c>.
/// </summary>
public sealed class Lora
{
    public LoraConfig Config { get; }
    /// <summary>Adapters by the full name of their base layer (<c>blocks.0.self_attn.q</c>), in module order.</summary>
    public IReadOnlyDictionary<string, LoraLinear> Adapters => adapters;
    private readonly Dictionary<string, LoraLinear> adapters;

    private Lora(LoraConfig config, Dictionary<string, LoraLinear> adapters) => (Config, this.adapters) = (config, adapters);

    /// <summary>
    /// Attaches an adapter to every <see cref="Linear"/> whose name matches a target (10 per Wan block with the default
    /// targets; <c>norm_q</c> or <c>audio_cond_projs.0</c> do not match). Throws when nothing matches.
    /// </summary>
    public static Lora Inject(Module model, LoraConfig config, Generator? generator = null)
    {
        config.Validate();
        var targets = model.named_modules().Where(m => m.module is Linear && config.Matches(m.name)).ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"LoRA: no Linear layer of {model.GetType().Name} matches the targets {string.Join(", ", config.Targets)}");
        var map = new Dictionary<string, LoraLinear>();
        foreach (var (name, m) in targets) map[name] = LoraLinear.Attach((Linear)m, config, generator);
        return new Lora(config, map);
    }

    /// <summary>PEFT's trainable set after injection: only parameters whose names contain "lora_" require grad.</summary>
    public static void MarkOnlyLoraAsTrainable(Module model)
    {
        foreach (var (name, p) in model.named_parameters()) p.requires_grad = name.Contains("lora_", StringComparison.Ordinal);
    }

    public void Merge() { foreach (var a in adapters.Values) a.Merge(); }
    public void Unmerge() { foreach (var a in adapters.Values) a.Unmerge(); }
    public bool Merged => adapters.Values.All(a => a.Merged);

    /// <summary>Number of LoRA parameters (r·(in + out) per layer).</summary>
    public long ParameterCount => adapters.Values.Sum(a => a.lora_A.weight.numel() + a.lora_B.weight.numel());

    /// <summary>True for a PEFT LoRA key (<c>….lora_A.default.weight</c>, <c>….lora_B.default.weight</c>).</summary>
    public static bool IsLoraKey(string key) => key.Contains(".lora_A.", StringComparison.Ordinal) || key.Contains(".lora_B.", StringComparison.Ordinal);

    /// <summary>The adapter weights under their PEFT names (the module's own tensors, not copies).</summary>
    public static Dictionary<string, Tensor> StateDict(Module model) =>
        model.state_dict().Where(kv => IsLoraKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>Writes <see cref="StateDict"/> (format by extension: .safetensors, or .pt/.pth/.bin).</summary>
    public static void Save(Module model, string path) => Checkpoint.Save(path, StateDict(model));

    /// <summary>
    /// PEFT spellings normalised to this model's names: a leading <c>base_model.model.</c> is dropped and
    /// <c>.base_layer.</c> (PEFT's name of the wrapped base weight) becomes the base layer's own name.
    /// </summary>
    public static string NormalizeKey(string key)
    {
        const string peftPrefix = "base_model.model.";
        if (key.StartsWith(peftPrefix, StringComparison.Ordinal)) key = key[peftPrefix.Length..];
        return key.Replace(".base_layer.", ".", StringComparison.Ordinal);
    }

    /// <summary>Loads the LoRA weights of <paramref name="state"/> (other keys ignored) strictly: every adapter of
    /// the model must be present with its shape. Merged adapters are unmerged first and re-merged after.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> state, string source = "state dict")
    {
        bool wasMerged = adapters.Values.Any(a => a.Merged);
        Unmerge();
        var lora = state.Where(kv => IsLoraKey(NormalizeKey(kv.Key))).ToDictionary(kv => NormalizeKey(kv.Key), kv => kv.Value);
        var own = adapters.SelectMany(kv => new[]
        {
            ($"{kv.Key}.lora_A.{LoraLinear.AdapterName}.weight", kv.Value.lora_A.weight),
            ($"{kv.Key}.lora_B.{LoraLinear.AdapterName}.weight", kv.Value.lora_B.weight),
        }).ToList();
        var missing = own.Where(o => !lora.ContainsKey(o.Item1)).Select(o => o.Item1).ToList();
        var unexpected = lora.Keys.Except(own.Select(o => o.Item1)).ToList();
        var mismatched = own.Where(o => lora.TryGetValue(o.Item1, out var t) && !t.shape.SequenceEqual(o.Item2.shape))
            .Select(o => $"{o.Item1}: file [{string.Join(", ", lora[o.Item1].shape)}], model [{string.Join(", ", o.Item2.shape)}] (rank {Config.Rank})").ToList();
        if (missing.Count > 0 || unexpected.Count > 0 || mismatched.Count > 0)
            throw new InvalidDataException($"LoRA weights from {source} do not fit the model:" +
                (missing.Count > 0 ? $"\n  missing ({missing.Count}): {string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? ", ..." : "")}" : "") +
                (unexpected.Count > 0 ? $"\n  unexpected ({unexpected.Count}): {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", ..." : "")}" : "") +
                (mismatched.Count > 0 ? "\n  shape mismatch: " + string.Join("\n  shape mismatch: ", mismatched.Take(8)) : ""));
        using (torch.no_grad())
            foreach (var (key, p) in own) p.copy_(lora[key]);
        if (wasMerged) Merge();
    }
}
