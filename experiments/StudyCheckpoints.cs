using AptLab.Apt;
using AptLab.Config;
using AptLab.Torch.IO;
using AptLab.Wan;

namespace AptLab.Experiments;

/// <summary>
/// Stage-final checkpoints of a study (checkpoints/&lt;stage&gt;.safetensors): a resumed run skips the stages that
/// finished and loads their results, and a later experiment kind starts from them (<see cref="ExperimentKinds"/>).
/// The foundation (VAE with its latent statistics, text encoder, teacher) carries the data, vae, text and teacher
/// sections of the config that made it in its metadata ("config"), so a run loading it rebuilds the same
/// architecture whatever its own config says. In a data-parallel run rank 0 decides and writes; every rank reads.
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
        Safetensors.Save(PathOf(ctx, Vae), d, new Dictionary<string, string> { ["stage"] = Vae });
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
        Safetensors.Save(PathOf(ctx, Foundation), d, new Dictionary<string, string> { ["stage"] = Foundation, ["config"] = spec });
    });

    /// <summary>Replaces the data, vae, text and teacher sections of <paramref name="config"/> by those stored in the
    /// foundation checkpoint <paramref name="path"/> (before a context is built from the config).</summary>
    public static void AdoptFoundationSpec(ExperimentConfig config, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"foundation checkpoint not found: {Path.GetFullPath(path)}", path);
        using var f = Safetensors.Open(path);
        if (!f.Metadata.TryGetValue("config", out var yaml) || f.Metadata.GetValueOrDefault("stage") != Foundation)
            throw new InvalidDataException($"{path}: not a foundation checkpoint of a teacher run (no 'stage: foundation' and 'config' metadata)");
        var spec = ConfigLoader.Parse<Spec>(yaml, path + " (metadata 'config')");
        (config.Data, config.Vae, config.Text, config.Teacher) = (spec.Data, spec.Vae, spec.Text, spec.Teacher);
    }

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
        Safetensors.Save(PathOf(ctx, stage), model.Module.state_dict(), new Dictionary<string, string> { ["stage"] = stage }));

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
