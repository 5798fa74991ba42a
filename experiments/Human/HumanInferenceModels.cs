using AptLab.Config;
using AptLab.Human;
using AptLab.Human.Inference;

namespace AptLab.Experiments.Human;

/// <summary>
/// The models of <c>aptlab human</c> (docs/omnihuman.md#inference) from a config's <c>human</c> section:
/// <list type="bullet">
/// <item><c>--weights</c> / <c>human.from</c> naming an omnihuman run folder: that run's encoders and
/// checkpoints/omnihuman.safetensors, its data settings (size, segment frames, pose σ) unless the config sets them;</item>
/// <item><c>--weights</c> / <c>human.model.weights</c> naming an OmniHuman file (a trained model, or apt-omnihuman's
/// generator.safetensors with inference.steps 1 and guidance 1): that DiT with the encoders of <c>human.model</c>;</item>
/// <item><c>random_weights</c> without weights: tiny random encoders and DiT (CPU smoke runs; the video is noise).</item>
/// </list>
/// </summary>
public sealed class HumanInferenceModels : IDisposable
{
    public required OmniHumanModel Dit { get; init; }
    public required HumanEncoders Encoders { get; init; }
    /// <summary>The section whose data settings apply (the from-run's for a run folder).</summary>
    public required HumanConfig Config { get; init; }
    public IReadOnlyList<string> Log { get; init; } = [];

    public OmniHumanPipeline Pipeline(int fps) => new(Dit, Encoders.Vae, Encoders.Text, Encoders.Audio(fps));

    public static HumanInferenceModels Build(ExperimentConfig cfg, string? weights)
    {
        var h = cfg.Human ?? throw new ConfigException("aptlab human needs a config with a human: section");
        var log = new List<string>();
        string source = weights ?? (h.From.Length > 0 ? h.From : h.Model.Weights);
        if (source.Length > 0)
        {
            var resolved = ExperimentKinds.ResolveLatest(source, "--weights");
            if (Directory.Exists(resolved))
            {
                var recorded = Path.Combine(resolved, "config.yaml");
                var run = ConfigLoader.Load<ExperimentConfig>(recorded);
                var rh = run.Human ?? throw new InvalidDataException($"{recorded}: not an OmniHuman run (no human: section)");
                var enc = HumanModels.Encoders(rh, run.Seed, Path.Combine(resolved, "checkpoints", HumanModels.EncodersFile));
                var dit = OmniHumanWeights.Load(HumanModels.ResolveWeights(resolved, "--weights"), dtype: h.Model.ModelDtype);
                log.Add($"OmniHuman run {Path.GetFullPath(resolved)}: dim {dit.wanConfig.Dim}, {dit.wanConfig.NumLayers} blocks");
                return new HumanInferenceModels { Dit = dit, Encoders = enc, Config = rh, Log = log };
            }
            var file = HumanModels.ResolveWeights(resolved, "--weights");
            var e2 = HumanModels.Encoders(h, cfg.Seed);
            var d2 = OmniHumanWeights.Load(file, dtype: h.Model.ModelDtype);
            log.Add($"OmniHuman weights {file}: dim {d2.wanConfig.Dim}, {d2.wanConfig.NumLayers} blocks");
            return new HumanInferenceModels { Dit = d2, Encoders = e2, Config = h, Log = log };
        }
        if (!h.Model.RandomWeights)
            throw new ConfigException("human.model.weights (or human.from, or --weights) names the OmniHuman model to run (or set random_weights: true)");
        var enc3 = HumanModels.Encoders(h, cfg.Seed);
        var arch = h.Model.Architecture(enc3.TextDim, enc3.TextLen, enc3.AudioInDim);
        torch.manual_seed(cfg.Seed);
        using var g = new Generator(cfg.Seed);
        var dit3 = new OmniHumanModel(arch, generator: g);
        AptLab.Torch.nn.init.nontrivial_(dit3, g);
        dit3.eval();
        log.Add($"random_weights: tiny random DiT (dim {arch.Wan.Dim}, {arch.Wan.NumLayers} blocks), VAE, umT5, wav2vec2");
        return new HumanInferenceModels { Dit = dit3, Encoders = enc3, Config = h, Log = log };
    }

    public void Dispose()
    {
        Dit.Dispose();
        Encoders.Dispose();
    }
}
