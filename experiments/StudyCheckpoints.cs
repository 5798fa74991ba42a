using AptLab.Apt;
using AptLab.Torch.IO;

namespace AptLab.Experiments;

/// <summary>Stage-final checkpoints of a study (checkpoints/&lt;stage&gt;.safetensors): a resumed run skips the
/// stages that finished and loads their results. In a data-parallel run rank 0 decides and writes; every rank
/// reads (the run folder is shared).</summary>
public static class StudyCheckpoints
{
    public static string PathOf(StudyContext ctx, string stage) => Path.Combine(ctx.Run.Checkpoints, stage + ".safetensors");

    public static bool Has(StudyContext ctx, string stage) => ctx.AgreeWithMain(File.Exists(PathOf(ctx, stage)));

    /// <summary>VAE (with its latent statistics), text encoder and teacher.</summary>
    public static void SaveFoundation(StudyContext ctx) => ctx.OnMain(() =>
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in ctx.Vae.state_dict()) d["vae." + k] = v;
        d["vae.latent_mean"] = ctx.Vae.latent_mean;
        d["vae.latent_inv_std"] = ctx.Vae.latent_inv_std;
        foreach (var (k, v) in ctx.TextEncoder.state_dict()) d["text." + k] = v;
        foreach (var (k, v) in ctx.Teacher.Module.state_dict()) d["teacher." + k] = v;
        Safetensors.Save(PathOf(ctx, "foundation"), d, new Dictionary<string, string> { ["stage"] = "foundation" });
    });

    public static void LoadFoundation(StudyContext ctx)
    {
        var path = PathOf(ctx, "foundation");
        using var state = Checkpoint.Load(path);
        Dictionary<string, Tensor> Part(string prefix, params string[] except) => state
            .Where(kv => kv.Key.StartsWith(prefix) && !except.Contains(kv.Key))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        ctx.Vae.load_state_dict(Part("vae.", "vae.latent_mean", "vae.latent_inv_std"), source: path);
        ctx.Vae.latent_mean.copy_(state["vae.latent_mean"]);
        ctx.Vae.latent_inv_std.copy_(state["vae.latent_inv_std"]);
        ctx.TextEncoder.load_state_dict(Part("text."), source: path);
        ctx.Teacher.Module.load_state_dict(Part("teacher."), source: path);
        ctx.Vae.eval();
        ctx.TextEncoder.eval();
        ctx.TextEncoder.requires_grad_(false);
        ctx.Teacher.Module.eval();
    }

    public static void SaveModel(StudyContext ctx, string stage, FlowModel model) => ctx.OnMain(() =>
        Safetensors.Save(PathOf(ctx, stage), model.Module.state_dict(), new Dictionary<string, string> { ["stage"] = stage }));

    public static WanFlowModel LoadModel(StudyContext ctx, string stage)
    {
        var model = (WanFlowModel)ctx.Teacher.Copy();
        var path = PathOf(ctx, stage);
        using var state = Checkpoint.Load(path);
        model.Module.load_state_dict(state, source: path);
        model.Module.eval();
        return model;
    }
}
