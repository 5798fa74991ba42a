using AptLab.Avatar.Audio;
using AptLab.Human;
using AptLab.Config;
using AptLab.Human.Audio;
using AptLab.Human.Data;
using AptLab.Torch.IO;
using AptLab.Torch.nn;
using AptLab.Wan;
using AptLab.Wan.Text;
using AptLab.Wan.Vae;

namespace AptLab.Experiments.Human;

/// <summary>The encoders of an OmniHuman run: the Wan VAE (with its latent statistics), umT5 and wav2vec2.</summary>
public sealed class HumanEncoders : IDisposable
{
    public required WanVAE Vae { get; init; }
    public required UmT5TextEncoder Text { get; init; }
    public required Wav2Vec2Model Wav2Vec { get; init; }
    public HumanAudioEncoder Audio(int fps) => new(Wav2Vec, 16000, fps);
    public int TextDim => Text.Encoder.config.Dim;
    public int TextLen => Text.Tokenizer.TextLen;
    public int AudioInDim => HumanAudioEncoder.FeatureWidth(Wav2Vec.config);
    /// <summary>The VAE's latent statistics (what the DiT's latents are normalised with).</summary>
    public LatentStats Stats
    {
        get
        {
            using var scope = torch.NewScope();
            var mean = Vae.latent_mean.flatten().to(ScalarType.Float32).data<float>();
            var std = Vae.latent_inv_std.flatten().reciprocal().to(ScalarType.Float32).data<float>();
            return new LatentStats(mean, std);
        }
    }

    public void Dispose()
    {
        Vae.Dispose(); Text.Encoder.Dispose(); Text.Tokenizer.Dispose(); Wav2Vec.Dispose();
    }
}

/// <summary>
/// Building the models of an OmniHuman run from the <c>human</c> section (docs/omnihuman.md#checkpoints):
/// <list type="bullet">
/// <item>encoders: released files (vae_path, text_encoder_path + tokenizer, wav2vec_path), or with random_weights tiny
/// ones seeded by the run's seed (a study's VAE built from study.vae, to be trained), or those a run saved in
/// checkpoints/encoders.safetensors;</item>
/// <item>the DiT: from an OmniHuman file (weights), else Wan 2.1 weights (dit_path) loaded into the widened model, else
/// (random_weights) Wan's own initialisation (with train.mode lora every base weight drawn nontrivially instead: Wan's
/// zero head would pass no gradient to a frozen base); the added parts at their no-op init; LoRA injected into Wan's
/// linears when training with train.mode lora.</item>
/// </list>
/// </summary>
public static class HumanModels
{
    public const string EncodersFile = "encoders.safetensors";
    public const string DitFile = "omnihuman.safetensors";

    public static HumanEncoders Encoders(HumanConfig h, ulong seed, string? savedEncoders = null)
    {
        var m = h.Model;
        HumanEncoders e;
        if (m.RandomWeights)
        {
            var tokPath = Path.GetFullPath(m.TokenizerPath);
            if (!File.Exists(tokPath)) throw new FileNotFoundException($"tokenizer model not found: {tokPath} (human.model.tokenizer_path)", tokPath);
            var tokenizer = new UmT5Tokenizer(tokPath, m.TextLen);
            torch.manual_seed(seed + Seeds.TinyEncoders);
            using var g = new Generator(seed + Seeds.TinyEncoders);
            var t5 = new T5Encoder(T5EncoderConfig.Tiny with { Vocab = Math.Max(tokenizer.VocabSize, 2), TextLen = m.TextLen }, generator: g);
            var w2v = new Wav2Vec2Model(Wav2Vec2Config.Tiny);
            init.nontrivial_(w2v, g);
            var v = h.Study?.Vae;
            var vae = v is null ? new WanVAE(WanVaeConfig.Tiny)
                : new WanVAE(new WanVaeConfig { Dim = v.Dim, ZDim = v.ZDim, DimMult = v.DimMult.ToArray(), NumResBlocks = v.NumResBlocks, TemporalDownsample = v.TemporalDownsample.ToArray() });
            e = new HumanEncoders { Vae = vae, Text = new UmT5TextEncoder(tokenizer, t5), Wav2Vec = w2v };
        }
        else
        {
            var textPath = Path.GetFullPath(m.TextEncoderPath);
            var tokenizer = new UmT5Tokenizer(m.TokenizerPath.Length > 0 ? Path.GetFullPath(m.TokenizerPath)
                : Path.Combine(Path.GetDirectoryName(textPath)!, "google", "umt5-xxl"), m.TextLen);
            var t5 = T5Encoder.FromCheckpoint(textPath, T5EncoderConfig.UmT5Xxl with { TextLen = m.TextLen }, m.ModelDtype);
            e = new HumanEncoders
            {
                Vae = WanVAE.FromCheckpoint(Path.GetFullPath(m.VaePath)), Text = new UmT5TextEncoder(tokenizer, t5),
                Wav2Vec = Wav2Vec2Model.FromCheckpoint(Path.GetFullPath(m.Wav2vecPath)),
            };
        }
        if (savedEncoders is not null) LoadEncoders(e, savedEncoders);
        e.Vae.eval(); e.Text.Encoder.eval(); e.Wav2Vec.eval();
        return e;
    }

    /// <summary>The encoders' weights (the VAE's with its latent statistics) in one file (atomically).</summary>
    public static void SaveEncoders(HumanEncoders e, string path)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in e.Vae.state_dict()) d["vae." + k] = v;
        d["vae.latent_mean"] = e.Vae.latent_mean;
        d["vae.latent_inv_std"] = e.Vae.latent_inv_std;
        foreach (var (k, v) in e.Text.Encoder.state_dict()) d["text." + k] = v;
        foreach (var (k, v) in e.Wav2Vec.state_dict()) d["wav2vec." + k] = v;
        Safetensors.Save(path, d, new Dictionary<string, string> { ["stage"] = "encoders" });
    }

    public static void LoadEncoders(HumanEncoders e, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"encoders not found: {Path.GetFullPath(path)}", path);
        using var state = Checkpoint.Load(path);
        Dictionary<string, Tensor> Part(string prefix, params string[] skip) => state
            .Where(kv => kv.Key.StartsWith(prefix) && !skip.Contains(kv.Key)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        e.Vae.load_state_dict(Part("vae.", "vae.latent_mean", "vae.latent_inv_std"), source: path);
        using (torch.no_grad())
        {
            e.Vae.latent_mean.copy_(state["vae.latent_mean"]);
            e.Vae.latent_inv_std.copy_(state["vae.latent_inv_std"]);
        }
        e.Text.Encoder.load_state_dict(Part("text."), source: path);
        e.Wav2Vec.load_state_dict(Part("wav2vec."), source: path);
    }

    /// <summary>The DiT for <paramref name="arch"/>, in the config's dtype (random weights: drawn in float32, then rounded), with LoRA when
    /// <paramref name="lora"/>.</summary>
    public static (OmniHumanModel dit, Lora? lora) Dit(HumanConfig h, OmniHumanConfig arch, ulong seed, bool lora, TextWriter log)
    {
        var m = h.Model;
        OmniHumanModel dit;
        torch.manual_seed(seed);
        using var g = new Generator(seed);
        if (m.Weights.Length > 0)
        {
            var path = ResolveWeights(m.Weights, "human.model.weights");
            dit = OmniHumanWeights.Load(path, dtype: m.ModelDtype);
            if (dit.config != arch && dit.config.Wan != arch.Wan)
                log.WriteLine($"[model] note: {path} has its own architecture (dim {dit.wanConfig.Dim}, {dit.wanConfig.NumLayers} blocks)");
            log.WriteLine($"[model] OmniHuman weights: {path}");
        }
        else if (m.RandomWeights)
        {
            dit = new OmniHumanModel(arch, ScalarType.Float32, generator: g);
            if (lora)
            {
                // a random stand-in for Wan weights: Wan's own init zeroes the head, through which a frozen base passes no
                // gradient; the added parts keep their no-op init, the pose channels stay zero
                init.nontrivial_(dit, g, where: name => !OmniHumanWeights.IsAdded(name));
                dit.ZeroPoseChannels();
            }
            if (m.ModelDtype != ScalarType.Float32) dit.to(m.ModelDtype);                  // dtype: bf16 -> the same weights rounded
            log.WriteLine($"[model] DiT from scratch (dim {arch.Wan.Dim}, {arch.Wan.NumLayers} blocks, {arch.Wan.NumHeads} heads, C_pose {arch.PoseChannels}, {m.Dtype})");
        }
        else
        {
            var shards = WanCheckpoint.ShardPaths(m.DitPath);
            var wan = WanCheckpoint.DetectConfig(shards, "human.model.dit_path", arch.Wan.TextLen);
            dit = new OmniHumanModel(arch with { Wan = wan with { InDim = arch.Wan.InDim } }, m.ModelDtype, generator: g);
            log.WriteLine($"[model] Wan base: {OmniHumanWeights.LoadWanBase(dit, shards)}");
        }
        Lora? adapters = null;
        if (lora)
        {
            adapters = Lora.Inject(dit.wan, new LoraConfig(m.LoraRank, m.LoraAlpha, LoraConfig.ParseTargets(m.LoraTargetModules)), g);
            log.WriteLine($"[model] LoRA on Wan's linears: {adapters.Adapters.Count} layers, {adapters.ParameterCount} parameters");
        }
        return (dit, adapters);
    }

    /// <summary>Seeded random cache samples in &lt;run&gt;/cache (<see cref="RandomHumanSamples"/>, 12 of them; kept when
    /// present) for a random-weights config without a manifest or a study: the tiny configs' data, which check the
    /// machinery, not what is learned. Returns the folder (call it on rank 0).</summary>
    public static string RandomCache(RunContext ctx, HumanConfig h, HumanClipSpec spec, int textDim, int audioDim)
    {
        if (!h.Model.RandomWeights)
            throw new ConfigException("config key 'human.data.manifest': required unless the config has a study or model.random_weights (random samples)");
        var folder = ctx.Run.File("cache");
        if (!File.Exists(Path.Combine(folder, "index.jsonl")))
            RandomHumanSamples.Write(folder, 12, spec, spec.Height / h.Model.VaeSpatialFactor, audioDim, textDim, ctx.Config.Seed + Seeds.RandomAvatarSamples);
        return folder;
    }

    /// <summary>An OmniHuman file, or a run folder (its checkpoints/omnihuman.safetensors); <c>latest</c> resolved.</summary>
    public static string ResolveWeights(string path, string key) =>
        ExperimentKinds.ResolveCheckpoint(path, key, Path.GetFileNameWithoutExtension(DitFile));
}
