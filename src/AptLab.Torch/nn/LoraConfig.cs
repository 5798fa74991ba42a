namespace AptLab.Torch.nn;

/// <summary>
/// PEFT <c>LoraConfig</c> as OmniAvatar uses it (docs/omniavatar.md#lora): rank r, <c>lora_alpha</c>, target module names
/// (a module matches when its full name equals a target or ends with "." + target), and the init of the weights.
/// </summary>
/// <param name="Rank">r (config.json <c>lora_rank</c>: 128)</param>
/// <param name="Alpha"><c>lora_alpha</c> (64); the adapter's output is scaled by alpha / r</param>
/// <param name="TargetModules">default "q", "k", "v", "o", "ffn.0", "ffn.2" (self- and cross-attention, FFN)</param>
/// <param name="InitLoraWeights">"kaiming" (= PEFT's True: A kaiming-uniform a = √5, B = 0), "gaussian"
/// (A ~ N(0, 1/r), B = 0) or "random" (PEFT's False: both kaiming-uniform, the adapter is not a no-op)</param>
public sealed record LoraConfig(int Rank = 128, double Alpha = 64, IReadOnlyList<string>? TargetModules = null, string InitLoraWeights = "kaiming")
{
    public static readonly IReadOnlyList<string> OmniAvatarTargets = ["q", "k", "v", "o", "ffn.0", "ffn.2"];

    public IReadOnlyList<string> Targets => TargetModules ?? OmniAvatarTargets;

    /// <summary>alpha / r (0.5 for OmniAvatar).</summary>
    public double Scaling => Alpha / Rank;

    /// <summary>PEFT's matching rule.</summary>
    public bool Matches(string moduleName) =>
        Targets.Any(t => moduleName == t || moduleName.EndsWith("." + t, StringComparison.Ordinal));

    /// <summary>Parses a comma-separated target list ("q,k,v,o,ffn.0,ffn.2", config.json's <c>lora_target_modules</c>).</summary>
    public static IReadOnlyList<string> ParseTargets(string csv) =>
        csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public LoraConfig Validate(string? source = null)
    {
        string where = source is null ? "LoraConfig" : $"LoraConfig ({source})";
        if (Rank <= 0) throw new ArgumentException($"{where}: lora_rank must be positive, got {Rank}");
        if (!(Alpha > 0)) throw new ArgumentException($"{where}: lora_alpha must be positive, got {Alpha}");
        if (Targets.Count == 0) throw new ArgumentException($"{where}: lora_target_modules is empty");
        if (InitLoraWeights is not ("kaiming" or "gaussian" or "random"))
            throw new ArgumentException($"{where}: init_lora_weights must be \"kaiming\", \"gaussian\" or \"random\", got \"{InitLoraWeights}\"");
        return this;
    }
}
