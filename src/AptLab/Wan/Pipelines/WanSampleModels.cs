using AptLab.Wan.Text;
using AptLab.Wan.Vae;
using AptLab.Wan.Clip;

namespace AptLab.Wan.Pipelines;

/// <summary>Loads the models a <see cref="SampleConfig"/> names (or builds the tiny preset) and wraps them in the
/// pipeline of its task. Missing files give one error naming the config key and the path.</summary>
public static class WanSampleModels
{
    /// <summary>The demo tokenizer of the repository, used by the tiny preset when no tokenizer is named.</summary>
    public const string TinyTokenizer = "configs/demo/spiece.model";

    /// <summary>Builds the T2V or I2V pipeline (owning its models) for <paramref name="cfg"/>. An I2V pipeline gets
    /// the CLIP image encoder too unless <paramref name="withClip"/> is false (the caller passes the features).</summary>
    public static WanPipeline Load(SampleConfig cfg, Action<string>? log = null, bool withClip = true)
    {
        if (cfg.IsI2V && withClip && !cfg.IsTiny) RequireClip(cfg);              // before the big models load
        var (dit, vae, text) = cfg.IsTiny ? LoadTiny(cfg, log) : LoadCheckpoints(cfg, log);
        ClipImageEncoder? clip = null;
        try
        {
            if (cfg.IsI2V && withClip) clip = LoadClip(cfg, log);
            return cfg.IsI2V ? new WanI2VPipeline(dit, vae, text, ownsModels: true, clip)
                             : new WanT2VPipeline(dit, vae, text, ownsModels: true);
        }
        catch
        {
            dit.Dispose(); vae.Dispose(); text.Encoder.Dispose(); text.Tokenizer.Dispose(); clip?.Dispose();
            throw;
        }
    }

    /// <summary>What <see cref="Load"/> checks before a model is built, and the pipeline's granularity: sizes are
    /// multiples of <c>sizeMultiple</c> (VAE stride × patch), frame counts <c>1 + temporalFactor·k</c>. The DiT's
    /// architecture comes from its checkpoint header (nothing is loaded); a file missing, a DiT of the other task or
    /// malformed headers are errors naming the key (docs/reliability.md).</summary>
    public static (int sizeMultiple, int temporalFactor) Geometry(SampleConfig cfg, bool withClip = true)
    {
        if (cfg.IsI2V && withClip && !cfg.IsTiny) RequireClip(cfg);              // in Load's order
        WanConfig dit;
        WanVaeConfig vae;
        if (cfg.IsTiny)
        {
            vae = TinyWan.VaeConfig(cfg.Tiny);
            dit = TinyWan.DitConfig(cfg.Tiny, cfg.IsI2V, vae.ZDim);
        }
        else
        {
            foreach (var (key, path, dirOk) in new[] { ("dit", cfg.Dit!, true), ("vae", cfg.Vae!, false), ("t5", cfg.T5!, false), ("tokenizer", cfg.Tokenizer!, true) })
                RequirePath(key, path, dirOk);
            vae = WanVaeConfig.Wan21;                                              // what FromCheckpoint builds
            var shards = WanCheckpoint.ShardPaths(cfg.Dit!);
            if (!shards.All(p => File.Exists(p) && p.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)))
                return (vae.SpatialFactor * 2, vae.TemporalFactor);               // a folder or an index: Wan 2.1's patch (1, 2, 2)
            dit = WanCheckpoint.DetectConfig(shards, "dit");
            if (dit.IsI2V != cfg.IsI2V)
                throw new ArgumentException($"config 'task' is {cfg.Task} but {cfg.Dit} holds a {dit.ModelType} DiT");
        }
        return (vae.SpatialFactor * Math.Max(dit.PatchSize.H, dit.PatchSize.W), vae.TemporalFactor);
    }

    /// <summary>The CLIP image encoder of an I2V config: the tiny random one, or the vision tower of the checkpoint
    /// that <c>clip</c> names (released ViT-H/14), in the config's dtype and on its device.</summary>
    public static ClipImageEncoder LoadClip(SampleConfig cfg, Action<string>? log = null)
    {
        if (cfg.IsTiny) return TinyWan.BuildClip(cfg.Tiny);
        RequireClip(cfg);
        log?.Invoke($"loading CLIP {cfg.Clip}");
        return ClipImageEncoder.FromCheckpoint(cfg.Clip!, ClipConfig.XlmRobertaVitH14, cfg.ModelDtype(), Device.Parse(cfg.Device));
    }

    private static void RequireClip(SampleConfig cfg)
    {
        if (string.IsNullOrWhiteSpace(cfg.Clip))
            throw new ArgumentException("config 'clip' (the CLIP checkpoint, models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth) is required to encode the image; or pass the CLIP features");
        RequirePath("clip", cfg.Clip, directoryOk: false);
    }

    private static (WanModel, WanVAE, UmT5TextEncoder) LoadTiny(SampleConfig cfg, Action<string>? log)
    {
        var tok = cfg.Tokenizer ?? TinyTokenizer;
        RequirePath("tokenizer", tok, directoryOk: true);
        log?.Invoke($"building tiny random {cfg.Task} models (seed {cfg.Tiny.Seed})");
        return TinyWan.Build(cfg.Tiny, cfg.IsI2V, tok);
    }

    private static (WanModel, WanVAE, UmT5TextEncoder) LoadCheckpoints(SampleConfig cfg, Action<string>? log)
    {
        RequirePath("dit", cfg.Dit!, directoryOk: true);
        RequirePath("vae", cfg.Vae!, directoryOk: false);
        RequirePath("t5", cfg.T5!, directoryOk: false);
        RequirePath("tokenizer", cfg.Tokenizer!, directoryOk: true);
        var device = Device.Parse(cfg.Device);
        var dtype = cfg.ModelDtype();
        WanModel? dit = null;
        WanVAE? vae = null;
        T5Encoder? t5 = null;
        try
        {
            log?.Invoke($"loading DiT {cfg.Dit}");
            dit = WanCheckpoint.Load(cfg.Dit!, null, dtype, device);
            if (dit.config.IsI2V != cfg.IsI2V)
                throw new ArgumentException($"config 'task' is {cfg.Task} but {cfg.Dit} holds a {dit.config.ModelType} DiT");
            log?.Invoke($"loading VAE {cfg.Vae}");
            vae = WanVAE.FromCheckpoint(cfg.Vae!);
            if (device != Device.CPU) vae.to(device);
            log?.Invoke($"loading umT5 {cfg.T5}");
            t5 = T5Encoder.FromCheckpoint(cfg.T5!, T5EncoderConfig.UmT5Xxl, dtype, device);
            var tokenizer = new UmT5Tokenizer(cfg.Tokenizer!, T5EncoderConfig.UmT5Xxl.TextLen);
            dit.eval(); vae.eval(); t5.eval();
            return (dit, vae, new UmT5TextEncoder(tokenizer, t5));
        }
        catch
        {
            dit?.Dispose(); vae?.Dispose(); t5?.Dispose();
            throw;
        }
    }

    private static void RequirePath(string key, string path, bool directoryOk)
    {
        if (File.Exists(path) || (directoryOk && Directory.Exists(path))) return;
        throw new FileNotFoundException($"config '{key}': {(directoryOk ? "file or folder" : "file")} not found: {Path.GetFullPath(path)}", path);
    }
}
