using AptLab.Config;
using AptLab.Avatar.Audio;
using AptLab.Wan;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Torch.IO;
using AptLab.Torch.nn;

namespace AptLab.Avatar.Inference;

/// <summary>
/// The four models of an OmniAvatar run, built from an <see cref="AvatarInferenceConfig"/> as inference.py does:
/// the DiT from the Wan weights (smart-loaded into 33 channels) + LoRA + <c>pytorch_model.pt</c>, the Wan VAE, umT5 and
/// wav2vec2-base. With <c>random_weights</c> every model is a tiny random one (see <see cref="TinyDit"/>).
/// </summary>
public sealed class AvatarModels : IDisposable
{
    public required OmniAvatarModel Dit { get; init; }
    public required WanVAE Vae { get; init; }
    public required T5Encoder TextEncoder { get; init; }
    public required UmT5Tokenizer Tokenizer { get; init; }
    public required Wav2Vec2Model Wav2Vec { get; init; }
    public Lora? Lora { get; init; }
    /// <summary>What was loaded from where (for the log).</summary>
    public IReadOnlyList<string> Log { get; init; } = [];

    public OmniAvatarPipeline Pipeline(AvatarInferenceConfig cfg) => new(Dit, Vae, new UmT5TextEncoder(Tokenizer, TextEncoder),
        new OmniAvatarAudioEncoder(Wav2Vec, new OmniAvatarAudioOptions(cfg.SampleRate, cfg.Fps, cfg.SilenceDurationS)));

    /// <summary>The tiny DiT of random-weight runs: dim 32, 1 head, 4 layers (audio into block 2), 8-wide AudioPack.</summary>
    public static OmniAvatarConfig TinyDit(int textDim, int textLen, int audioInDim) => new()
    {
        Wan = new WanConfig
        {
            ModelType = "t2v", InDim = 33, Dim = 32, FfnDim = 64, FreqDim = 16, TextDim = textDim, OutDim = 16,
            NumHeads = 1, NumLayers = 4, TextLen = textLen, Eps = 1e-6,
        },
        AudioInDim = audioInDim,
        AudioHiddenSize = 8,
    };

    public static AvatarModels Build(AvatarInferenceConfig cfg)
    {
        if (cfg.RandomWeights) return BuildRandom(cfg);
        var log = new List<string>();
        var dtype = cfg.ModelDtype;
        static string Resolve(string p) => Path.GetFullPath(p);                 // relative to the working directory, as upstream
        var exp = Resolve(cfg.ExpPath!);
        if (cfg.ReloadCfg)
        {
            var json = Path.Combine(exp, "config.json");
            if (File.Exists(json)) { cfg.MergeExperimentJson(json); log.Add($"merged {json}"); }
            else log.Add($"no {json}: using the YAML's LoRA/audio keys or OmniAvatar's defaults");
        }
        // umT5
        var textPath = Resolve(cfg.TextEncoderPath!);
        var tokenizer = new UmT5Tokenizer(cfg.TokenizerPath is { } tp ? Resolve(tp) : Path.Combine(Path.GetDirectoryName(textPath)!, "google", "umt5-xxl"));
        var t5 = T5Encoder.FromCheckpoint(textPath, T5EncoderConfig.UmT5Xxl, dtype);
        // wav2vec2 and VAE
        var w2v = Wav2Vec2Model.FromCheckpoint(Resolve(cfg.Wav2vecPath!));
        var vae = WanVAE.FromCheckpoint(Resolve(cfg.VaePath!));
        // DiT: config from the Wan weights, in_dim / audio_hidden_size from model_config
        var shards = WanCheckpoint.ShardPaths(cfg.DitPath!);
        var wanCfg = WanCheckpoint.DetectConfig(shards, "dit_path");
        var dcfg = new OmniAvatarConfig
        {
            Wan = wanCfg with { InDim = cfg.ModelConfig?.InDim ?? 33 },
            AudioHiddenSize = cfg.ModelConfig?.AudioHiddenSize ?? 32,
            AudioInDim = OmniAvatarAudioEncoder.EmbeddingWidth(w2v.config),
        };
        var dit = new OmniAvatarModel(dcfg, dtype);
        log.Add($"Wan base: {OmniAvatarWeights.LoadWanBase(dit, shards)}");
        Lora? lora = null;
        var pt = Path.Combine(exp, "pytorch_model.pt");
        if ((cfg.TrainArchitecture ?? "lora") == "lora")
        {
            var targets = cfg.LoraTargetModules is { } t ? LoraConfig.ParseTargets(t) : LoraConfig.OmniAvatarTargets;
            lora = Lora.Inject(dit, new LoraConfig(cfg.LoraRank ?? 128, cfg.LoraAlpha ?? 64, targets, cfg.InitLoraWeights ?? "kaiming"));
            log.Add(OmniAvatarWeights.LoadOmniAvatar(dit, pt, lora).ToString());
        }
        else
        {
            using var sd = Checkpoint.Load(pt);
            dit.load_state_dict(sd, strict: true, source: pt);
            log.Add($"{pt}: full DiT state dict");
        }
        dit.eval();
        return new AvatarModels { Dit = dit, Vae = vae, TextEncoder = t5, Tokenizer = tokenizer, Wav2Vec = w2v, Lora = lora, Log = log };
    }

    private static AvatarModels BuildRandom(AvatarInferenceConfig cfg)
    {
        if (cfg.TokenizerPath is null)
            throw new ConfigException("random_weights needs tokenizer_path (a SentencePiece model, e.g. configs/demo/spiece.model)");
        torch.manual_seed(cfg.Seed);
        using var g = new Generator(cfg.Seed);
        var tokenizer = new UmT5Tokenizer(cfg.TokenizerPath, textLen: 16);
        var t5 = new T5Encoder(T5EncoderConfig.Tiny with { Vocab = Math.Max(tokenizer.VocabSize, 2), TextLen = 16 }, generator: g);
        var w2v = new Wav2Vec2Model(Wav2Vec2Config.Tiny);
        var vae = new WanVAE(WanVaeConfig.Tiny);
        var dit = new OmniAvatarModel(TinyDit(t5.config.Dim, 16, OmniAvatarAudioEncoder.EmbeddingWidth(w2v.config)), generator: g);
        OmniAvatarWeights.InitForTraining(dit, g);
        init.nontrivial_(dit, g, modulation: false, biases: false);   // the training init alone would zero the audio branch
        var lora = Lora.Inject(dit, new LoraConfig(cfg.LoraRank ?? 4, cfg.LoraAlpha ?? 2), g);
        dit.eval();
        return new AvatarModels
        {
            Dit = dit, Vae = vae, TextEncoder = t5, Tokenizer = tokenizer, Wav2Vec = w2v, Lora = lora,
            Log = ["random_weights: tiny random DiT (dim 32, 4 layers), VAE (dim 8), umT5 (dim 32), wav2vec2 (width 48)"],
        };
    }

    public void Dispose()
    {
        Dit.Dispose(); Vae.Dispose(); TextEncoder.Dispose(); Tokenizer.Dispose(); Wav2Vec.Dispose();
    }
}
