namespace AptLab.Experiments;

/// <summary>
/// One independent training replicate of a study's consistency distillation and APT phases (docs/demo-study.md):
/// replicate k trains with seed + 1000 k (the streams of <see cref="Seeds"/> that draw training batches, noise and the
/// discriminator heads) on the same foundation, and is scored on the same held-out samples and sampling noise as every
/// other. Replicate 0 is the run's own seed: its checkpoints (cd, apt_image_ema, ...) and metric tags (cd/loss, ...)
/// are the study's usual ones, so the experiment kinds chained by checkpoints reproduce it; replicate k's are
/// cd_seed&lt;s&gt; and cd/seed&lt;s&gt;/loss.
/// </summary>
public sealed record Replicate(int Index, ulong Seed)
{
    /// <summary>Seed distance between replicates: larger than every offset of <see cref="Seeds"/>, so no two streams of
    /// two replicates share a seed.</summary>
    public const ulong Stride = 1000;

    /// <summary>Replicate <paramref name="k"/> of a run whose seed is <paramref name="seed"/>.</summary>
    public static Replicate Of(ulong seed, int k) => new(k, seed + Stride * (ulong)k);

    /// <summary>The replicates of <paramref name="config"/> (replicates.count of them).</summary>
    public static IReadOnlyList<Replicate> All(ExperimentConfig config) =>
        Enumerable.Range(0, config.Replicates.Count).Select(k => Of(config.Seed, k)).ToList();

    /// <summary>The checkpoint name of a stage's product or periodic checkpoints: "cd", "cd_seed1000".</summary>
    public string Checkpoint(string stage) => Index == 0 ? stage : $"{stage}_seed{Seed}";

    /// <summary>The metric prefix of a stage: "cd", "cd/seed1000" (the same stage, so the plots overlay the replicates).</summary>
    public string Tag(string stage) => Index == 0 ? stage : $"{stage}/seed{Seed}";

    /// <summary>The name of a stage in progress lines and stage times: "apt_image", "apt_image seed 1000".</summary>
    public string Label(string stage) => Index == 0 ? stage : $"{stage} seed {Seed}";
}
