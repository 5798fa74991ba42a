using AptLab.Torch.IO;

namespace AptLab.Avatar.Audio;

public sealed partial class Wav2Vec2Model
{
    /// <summary>Prefix of the base model's keys inside HF task models (<c>Wav2Vec2ForCTC</c>, the file that ships as
    /// facebook/wav2vec2-base-960h, <c>Wav2Vec2ForPreTraining</c>, ...).</summary>
    public const string HfTaskModelPrefix = "wav2vec2.";

    private const string MaskedSpecEmbed = "masked_spec_embed";
    private const string PosConv = "encoder.pos_conv_embed.conv.";
    private const string LegacyG = PosConv + "weight_g", LegacyV = PosConv + "weight_v";
    private const string ParamG = PosConv + "parametrizations.weight.original0", ParamV = PosConv + "parametrizations.weight.original1";

    /// <summary>
    /// Builds the model and strictly loads a Hugging Face checkpoint as it ships: <c>pytorch_model.bin</c>,
    /// <c>model.safetensors</c>, or the folder holding them (with its <c>config.json</c>, which then gives the config
    /// unless <paramref name="config"/> is passed; without either the config is <see cref="Wav2Vec2Config.Base960h"/>).
    /// Accepted key layouts: a bare <c>Wav2Vec2Model</c>, or a task model whose base keys carry the <c>wav2vec2.</c>
    /// prefix (its head — <c>lm_head.*</c>, <c>quantizer.*</c>, ... — is ignored); the positional conv's weight norm
    /// spelled either <c>weight_g/weight_v</c> (legacy) or <c>parametrizations.weight.original0/original1</c>
    /// (transformers ≥ 4.33). A <c>masked_spec_embed</c> (unused at inference) is optional on both sides; any other missing,
    /// unexpected or mis-shaped key is one error naming the file.
    /// </summary>
    public static Wav2Vec2Model FromCheckpoint(string path, Wav2Vec2Config? config = null)
    {
        var file = ResolveWeightsFile(path, out var folderConfig);
        config ??= folderConfig is not null ? Wav2Vec2Config.FromHfConfigFile(folderConfig) : Wav2Vec2Config.Base960h;
        var model = new Wav2Vec2Model(config);
        try
        {
            using var sd = Checkpoint.Load(file);
            var mapped = MapHfKeys(sd, file);
            // masked_spec_embed (SpecAugment) is unused at inference: tolerate it missing from the file or from the model.
            if (model.masked_spec_embed is not null) mapped.TryAdd(MaskedSpecEmbed, model.masked_spec_embed);
            else mapped.Remove(MaskedSpecEmbed);
            model.load_state_dict(mapped, strict: true, source: file);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Renames a Hugging Face wav2vec2 state dict onto this module's keys: strips the task-model prefix <c>wav2vec2.</c>
    /// (dropping the head's keys), and maps <c>parametrizations.weight.original0/1</c> to <c>weight_g/weight_v</c>.
    /// The tensors are not copied. Both weight-norm spellings at once is an error naming <paramref name="source"/>.
    /// </summary>
    public static Dictionary<string, Tensor> MapHfKeys(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        bool wrapped = state.Keys.Any(k => k.StartsWith(HfTaskModelPrefix, StringComparison.Ordinal));
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, t) in state)
        {
            string k = key;
            if (wrapped)
            {
                if (!k.StartsWith(HfTaskModelPrefix, StringComparison.Ordinal)) continue;   // the task head
                k = k[HfTaskModelPrefix.Length..];
            }
            k = k switch { ParamG => LegacyG, ParamV => LegacyV, _ => k };
            if (!result.TryAdd(k, t))
                throw new InvalidDataException($"{source}: the positional conv weight norm is stored twice ('{key}' and its "
                    + $"{(key.EndsWith("original0") || key.EndsWith("original1") ? "legacy weight_g/weight_v" : "parametrizations.weight.original0/1")} spelling)");
        }
        return result;
    }

    private static string ResolveWeightsFile(string path, out string? configJson)
    {
        var full = Path.GetFullPath(path);
        configJson = null;
        if (!Directory.Exists(full))
        {
            if (!File.Exists(full)) throw new FileNotFoundException($"wav2vec2 checkpoint not found: {full}", full);
            return full;
        }
        var cfg = Path.Combine(full, "config.json");
        if (File.Exists(cfg)) configJson = cfg;
        foreach (var name in new[] { "model.safetensors", "pytorch_model.bin" })
        {
            var f = Path.Combine(full, name);
            if (File.Exists(f)) return f;
        }
        throw new FileNotFoundException($"wav2vec2 checkpoint folder {full} has neither model.safetensors nor pytorch_model.bin", full);
    }
}
