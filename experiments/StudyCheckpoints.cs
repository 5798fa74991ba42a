using AptLab.Apt;
using AptLab.Config;
using YamlDotNet.RepresentationModel;
using AptLab.Torch.IO;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// Stage-final checkpoints of a study (checkpoints/&lt;stage&gt;.safetensors): a resumed run skips the stages that
/// finished and loads their results, and a later experiment kind starts from them (<see cref="ExperimentKinds"/>).
/// The foundation (VAE with its latent statistics, text encoder, teacher) carries the data, vae, text and teacher
/// sections of the config that made it in its metadata ("config"); a run loading it takes the architecture and the
/// training data from there (<see cref="AdoptFoundationSpec"/>), warning for every value of its own config that this
/// changes. In a data-parallel run rank 0 decides and writes; every rank reads.
/// </summary>
public static class StudyCheckpoints
{
    public const string Foundation = "foundation";

    public static string PathOf(RunContext ctx, string stage) => Path.Combine(ctx.Run.Checkpoints, stage + ".safetensors");

    public static bool Has(RunContext ctx, string stage) => ctx.AgreeWithMain(File.Exists(PathOf(ctx, stage)));

    /// <summary>The sections of a config that fix the foundation's architecture and data.</summary>
    public sealed class Spec
    {
        public DataConfig Data { get; set; } = new();
        public VaeStageConfig Vae { get; set; } = new();
        public TextStageConfig Text { get; set; } = new();
        public TeacherStageConfig Teacher { get; set; } = new();
    }

    public const string Vae = "vae";

    private static void AddVae(Dictionary<string, Tensor> d, StudyContext ctx)
    {
        foreach (var (k, v) in ctx.Vae.state_dict()) d["vae." + k] = v;
        d["vae.latent_mean"] = ctx.Vae.latent_mean;
        d["vae.latent_inv_std"] = ctx.Vae.latent_inv_std;
    }

    private static void LoadVae(StudyContext ctx, StateDict state, string path)
    {
        var part = state.Where(kv => kv.Key.StartsWith("vae.") && kv.Key is not ("vae.latent_mean" or "vae.latent_inv_std"))
                        .ToDictionary(kv => kv.Key["vae.".Length..], kv => kv.Value);
        ctx.Vae.load_state_dict(part, source: path);
        ctx.Vae.latent_mean.copy_(state["vae.latent_mean"]);
        ctx.Vae.latent_inv_std.copy_(state["vae.latent_inv_std"]);
        ctx.Vae.eval();
    }

    /// <summary>The trained VAE with its latent statistics (checkpoints/vae.safetensors): a run interrupted during
    /// the teacher stage resumes without retraining it.</summary>
    public static void SaveVae(StudyContext ctx) => ctx.OnMain(() =>
    {
        var d = new Dictionary<string, Tensor>();
        AddVae(d, ctx);
        ctx.Log.Flush();                                                       // the logs a resume keeps are on disk first
        Training.Checkpoints.SaveFile(PathOf(ctx, Vae), d, new Dictionary<string, string> { ["stage"] = Vae });
    });

    public static void LoadVae(StudyContext ctx)
    {
        var path = PathOf(ctx, Vae);
        using var state = Checkpoint.Load(path);
        LoadVae(ctx, state, path);
    }

    /// <summary>VAE (with its latent statistics), text encoder and teacher, and the spec of their config.</summary>
    public static void SaveFoundation(StudyContext ctx) => ctx.OnMain(() =>
    {
        var d = new Dictionary<string, Tensor>();
        AddVae(d, ctx);
        foreach (var (k, v) in ctx.TextEncoder.state_dict()) d["text." + k] = v;
        foreach (var (k, v) in ctx.Teacher.Module.state_dict()) d["teacher." + k] = v;
        var c = ctx.Config;
        var spec = ConfigLoader.ToYaml(new Spec { Data = c.Data, Vae = c.Vae, Text = c.Text, Teacher = c.Teacher });
        ctx.Log.Flush();
        Training.Checkpoints.SaveFile(PathOf(ctx, Foundation), d, new Dictionary<string, string> { ["stage"] = Foundation, ["config"] = spec });
    });

    /// <summary>What a run loading a foundation takes from it: the networks' architecture (the VAE, text encoder and
    /// teacher shapes and the tokenizer that sizes the vocabulary) and the data the VAE's latent statistics were fitted
    /// on and the training set is re-encoded from. Training hyper-parameters and every sampling value (the
    /// <c>sampling</c> section: shift, guidance, negative prompt) stay the run's own.</summary>
    public static readonly IReadOnlyList<string> AdoptedKeys =
    [
        "data.size", "data.video_frames", "data.train_images", "data.train_videos", "data.heldout_samples",
        "vae.dim", "vae.z_dim", "vae.dim_mult", "vae.temporal_downsample", "vae.num_res_blocks",
        "text.tokenizer", "text.text_len", "text.dim", "text.ffn_dim", "text.num_heads", "text.num_layers",
        "teacher.dim", "teacher.ffn_dim", "teacher.num_heads", "teacher.num_layers",
    ];

    /// <summary>Sets the <see cref="AdoptedKeys"/> of <paramref name="config"/> to the values recorded in the foundation
    /// checkpoint <paramref name="path"/> (before a context is built from the config), writing one warning line to
    /// <paramref name="warnings"/> for every value this changes. Everything else in the config is kept.</summary>
    public static void AdoptFoundationSpec(ExperimentConfig config, string path, TextWriter? warnings = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"foundation checkpoint not found: {Path.GetFullPath(path)}", path);
        string yaml;
        using (var f = Safetensors.Open(path))
        {
            if (!f.Metadata.TryGetValue("config", out var y) || f.Metadata.GetValueOrDefault("stage") != Foundation)
                throw new InvalidDataException($"{path}: not a foundation checkpoint of a teacher run (no 'stage: foundation' and 'config' metadata)");
            yaml = y;
        }
        var recorded = Mapping(yaml, path + " (metadata 'config')");
        var own = Mapping(ConfigLoader.ToYaml(config), "config");
        bool changed = false;
        foreach (var key in AdoptedKeys)
        {
            var (section, name) = (key[..key.IndexOf('.')], key[(key.IndexOf('.') + 1)..]);
            if (Child(recorded, section) is not { } from || Child(from, name) is not { } value) continue;   // not recorded: keep the run's
            var to = Child(own, section) as YamlMappingNode ?? throw new InvalidDataException($"config has no '{section}' section");
            var current = Child(to, name);
            if (current is not null && Text(current) == Text(value)) continue;
            warnings?.WriteLine($"warning: {key}: {(current is null ? "(unset)" : Text(current))} -> {Text(value)} (from the foundation {path})");
            to.Children[new YamlScalarNode(name)] = value;
            changed = true;
        }
        if (!changed) return;
        var stream = new YamlStream(new YamlDocument(own));
        using var w = new StringWriter();
        stream.Save(w, assignAnchors: false);
        var adopted = ConfigLoader.Parse<ExperimentConfig>(w.ToString(), path + " (adopted architecture)");
        (config.Data, config.Vae, config.Text, config.Teacher) = (adopted.Data, adopted.Vae, adopted.Text, adopted.Teacher);
    }

    private static YamlMappingNode Mapping(string yaml, string source)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode m ? m
            : throw new InvalidDataException($"{source}: not a YAML mapping");
    }

    private static YamlNode? Child(YamlNode node, string key) =>
        node is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    private static string Text(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Value ?? "",
        YamlSequenceNode q => "[" + string.Join(", ", q.Children.Select(Text)) + "]",
        _ => node.ToString(),
    };

    public static void LoadFoundation(StudyContext ctx, string? path = null)
    {
        path ??= PathOf(ctx, Foundation);
        using var state = Checkpoint.Load(path);
        Dictionary<string, Tensor> Part(string prefix) => state
            .Where(kv => kv.Key.StartsWith(prefix)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        LoadVae(ctx, state, path);
        ctx.TextEncoder.load_state_dict(Part("text."), source: path);
        ctx.Teacher.Module.load_state_dict(Part("teacher."), source: path);
        ctx.TextEncoder.eval();
        ctx.TextEncoder.requires_grad_(false);
        ctx.Teacher.Module.eval();
    }

    public static void SaveModel(RunContext ctx, string stage, FlowModel model) => ctx.OnMain(() =>
    {
        ctx.Log.Flush();                                                           // the logs a resume keeps are on disk first
        Training.Checkpoints.SaveFile(PathOf(ctx, stage), model.Module.state_dict(), new Dictionary<string, string> { ["stage"] = stage });
    });

    /// <summary>A copy of <paramref name="like"/> (the teacher) with the weights of <paramref name="path"/>, or of this
    /// run's checkpoint of <paramref name="stage"/>.</summary>
    public static TModel LoadModel<TModel>(RunContext ctx, TModel like, string stage, string? path = null) where TModel : FlowModel
    {
        path ??= PathOf(ctx, stage);
        var model = (TModel)like.Copy();
        using var state = Checkpoint.Load(path);
        model.Module.load_state_dict(state, source: path);
        model.Module.eval();
        return model;
    }

    public static WanFlowModel LoadModel(StudyContext ctx, string stage) => LoadModel(ctx, ctx.Teacher, stage);
}
