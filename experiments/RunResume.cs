using AptLab.Avatar.Training;
using AptLab.Human.Training;
using AptLab.Logging;
using AptLab.Torch.IO;
using AptLab.Training;

namespace AptLab.Experiments;

/// <summary>
/// What a resumed run keeps of the logs its earlier attempt wrote (docs/reliability.md#5-resuming), decided from the run
/// folder's checkpoints by the same rules the stages use to skip or continue: a stage whose product exists is skipped
/// (its rows are kept), a stage with step checkpoints continues from the newest (its rows up to that step are kept),
/// and everything else runs again (its rows are dropped: an unfinished stage, the comparison, the config text and the
/// hparams written once per attempt). Every experiment kind goes through <see cref="Prepare"/>, so metrics.csv and the
/// TensorBoard events of a resumed run equal an uninterrupted run's row for row.
/// </summary>
public static class RunResume
{
    /// <summary>One training stage's footprint in a run folder.</summary>
    /// <param name="Name">its timing tag is <c>time/NAME_seconds</c> (<see cref="RunContext.Timed{T}"/>)</param>
    /// <param name="TagPrefix">the prefix of the tags it logs per step</param>
    /// <param name="Products">checkpoints/NAME.safetensors files of which any marks it finished (skipped on resume)</param>
    /// <param name="StepPrefix">the prefix of its step checkpoints (<see cref="Checkpoints"/>), when it continues from them</param>
    /// <param name="Replicated">trained once per training replicate (<see cref="Replicate"/>): replicate k's footprint
    /// is the same with its checkpoint names, tags and timing label</param>
    public sealed record Stage(string Name, string TagPrefix, string[] Products, string? StepPrefix = null, bool Replicated = false);

    /// <summary>The training stages of every kind: the study's (VAE, teacher, CD, the APT phases, also those of apt-wan,
    /// apt-omniavatar and apt-omnihuman), OmniAvatar fine-tuning and OmniHuman's stages (one step counter; an omnihuman
    /// study's VAE is done once its encoders file exists).</summary>
    public static readonly IReadOnlyList<Stage> Stages =
    [
        new("vae", "vae/", [StudyCheckpoints.Vae, StudyCheckpoints.Foundation, Path.GetFileNameWithoutExtension(Human.HumanModels.EncodersFile)]),
        new("teacher", "teacher/", [StudyCheckpoints.Foundation]),
        new("distill", "cd/", [CdStage.Stage], Replicated: true),
        new("apt_image", "apt_image/", [AptStage.Product(video: false)], "apt_image", Replicated: true),
        new("apt_video", "apt_video/", [AptStage.Product(video: true)], "apt_video", Replicated: true),
        new("avatar", "train/", [], OmniAvatarTrainer.CheckpointPrefix),
        new("train", "train/", [Path.GetFileNameWithoutExtension(Human.HumanModels.DitFile)], OmniHumanTrainer.CheckpointPrefix),
    ];

    /// <summary>The rules for <paramref name="run"/>'s logs: everything is dropped except the rows of finished stages
    /// and of continued stages up to their checkpoint, for each of the run's training <paramref name="replicates"/>
    /// (null: replicate 0 alone).</summary>
    public static ResumePoint For(RunDirectory run, IReadOnlyList<Replicate>? replicates = null)
    {
        var point = new ResumePoint().Restart("");
        foreach (var s in Stages) Add(point, run, s);
        foreach (var r in replicates ?? [])
            foreach (var s in Stages.Where(s => s.Replicated && r.Index > 0))
            {
                // replicate k's tags and timings start with replicate 0's (cd/seed1000/, time/distill_seed_1000_):
                // they follow their own replicate's checkpoints, not replicate 0's
                var rs = new Stage(r.Label(s.Name).Replace(' ', '_'), r.Tag(s.TagPrefix.TrimEnd('/')) + "/",
                    s.Products.Select(r.Checkpoint).ToArray(), s.StepPrefix is null ? null : r.Checkpoint(s.StepPrefix));
                point.Restart(rs.TagPrefix).Restart($"time/{rs.Name}_");
                if (rs.StepPrefix is not null) point.Restart($"time/{rs.StepPrefix}_samples_per_s");
                Add(point, run, rs);
            }
        return point;
    }

    // A finished stage keeps its rows; a continued one keeps them up to its newest step checkpoint.
    private static void Add(ResumePoint point, RunDirectory run, Stage s)
    {
        if (s.Products.Any(p => File.Exists(Path.Combine(run.Checkpoints, p + ".safetensors"))))
            point.Keep(s.TagPrefix).Keep($"time/{s.Name}_");
        else if (s.StepPrefix is not null && Checkpoints.Latest(run.Checkpoints, s.StepPrefix) is { } latest)
            point.After(s.TagPrefix, Checkpoints.StepOf(latest))
                 .After($"time/{s.StepPrefix}_samples_per_s", Checkpoints.StepOf(latest));   // its per-step throughput (AptStage)
    }

    /// <summary>Readies <paramref name="run"/> for a resumed attempt (rank 0, before anything is written): removes the
    /// temporary files a killed process left and returns the rules for its logs, saying both on
    /// <paramref name="output"/>.</summary>
    public static ResumePoint Prepare(RunDirectory run, TextWriter output, IReadOnlyList<Replicate>? replicates = null)
    {
        var orphans = AtomicFile.RemoveOrphans(run.Root);
        if (orphans.Count > 0)
            output.WriteLine($"[resume] removed {orphans.Count} unfinished temporary file(s) of the interrupted attempt: " +
                             string.Join(", ", orphans.Select(o => Path.GetRelativePath(run.Root, o))));
        var point = For(run, replicates);
        output.WriteLine($"[resume] logs kept: {point}");
        return point;
    }
}
